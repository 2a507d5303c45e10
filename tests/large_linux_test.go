package tests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/fcp"
)

// largeSizes are the files TestLargeFiles inserts: 256 MiB, 1 GiB and 4 GiB, or the sizes in
// MiB that LETHE_LARGE_MIB lists ("64,128") for a quicker look.
func largeSizes(tb testing.TB) []int64 {
	tb.Helper()
	v := os.Getenv("LETHE_LARGE_MIB")
	if v == "" {
		return []int64{256 << 20, 1 << 30, 4 << 30}
	}
	var sizes []int64
	for f := range strings.SplitSeq(v, ",") {
		m, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil || m < 1 {
			tb.Fatalf("LETHE_LARGE_MIB=%q: %q is not a size in MiB", v, f)
		}
		sizes = append(sizes, m<<20)
	}
	return sizes
}

// TestLargeFiles (LETHE_LONG=1) inserts files of 256 MiB, 1 GiB and 4 GiB into a network of
// four `lethe node` processes whose stores are sized to hold every copy, and fetches each
// byte for byte at another node; both ends stream, so neither the client nor a node holds a
// file. Each node's memory is sampled throughout, and its peak during each file must not grow
// with the file's size: the largest file's peak stays within twice the smallest's (plus
// 64 MiB of slack for the garbage collector's timing), and below 256 MiB. The disk is checked
// first: the test is skipped, saying how much it needs, when there is not room for the
// copies.
func TestLargeFiles(t *testing.T) {
	if !long() {
		t.Skip("LETHE_LONG=1 inserts and fetches files of up to 4 GiB")
	}
	sizes := largeSizes(t)
	var total, largest int64
	for _, s := range sizes {
		total += s
		largest = max(largest, s)
	}
	const nodes = 4
	// Each node may keep every block once (data and check blocks: twice the file); the
	// inserting node also holds the file's block log (twice the file) and its spooled data,
	// and the fetching node spools the content it sends.
	store := 2*total + total/8 + 64<<20
	need := nodes*store + 5*largest
	dir := t.TempDir()
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	if free := int64(fs.Bavail) * fs.Bsize; free < need {
		t.Skipf("the files' copies need %.1f GiB on the disk of %s, which has %.1f GiB free; set LETHE_LARGE_MIB to smaller sizes", float64(need)/(1<<30), dir, float64(free)/(1<<30))
	}
	bin := buildLethe(t)
	procs := startProcNet(t, bin, dir, nodes, "--store-size", strconv.FormatInt(store>>20, 10)+"MiB", "--cache-size", "64MiB")

	type peak struct{ anon, rss uint64 }
	var report []string
	var peaks [][]peak // per size, per node
	for i, size := range sizes {
		samplers := make([]*procMemory, nodes)
		for j, p := range procs {
			samplers[j] = sampleMemory(p.cmd.Process.Pid)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Hour)
		src := func() io.Reader { return io.LimitReader(rand.NewChaCha8([32]byte{byte(i), 'L'}), size) }
		want := sha256.New()
		io.Copy(want, src())
		// Each file gets fresh connections: a connection that waits for nothing is closed
		// after 10 idle minutes (spec §16.1), and the 4 GiB insert takes longer than that
		// (the fetching client, dialled before it, found its connection closed).
		in := procs[0].client()
		start := time.Now()
		uri, err := in.Put(ctx, fcp.PutRequest{URI: crypto.InsertURI{Type: crypto.CHK}, Data: src(), DataLength: size, TargetFilename: "large.bin"}, nil)
		if err != nil {
			cancel()
			t.Fatalf("insert %d MiB: %v", size>>20, err)
		}
		took := time.Since(start)
		got := &hashCount{h: sha256.New()}
		out := procs[2].client()
		start = time.Now()
		_, err = out.Get(ctx, fcp.GetRequest{URI: uri, MaxSize: size}, got, nil)
		cancel()
		if err != nil {
			t.Fatalf("fetch %d MiB: %v", size>>20, err)
		}
		fetchTook := time.Since(start)
		if got.n != size || !bytes.Equal(got.h.Sum(nil), want.Sum(nil)) {
			t.Fatalf("fetch %d MiB: %d bytes came back that differ from those inserted", size>>20, got.n)
		}
		var row []peak
		line := fmt.Sprintf("%5d MiB: insert %v, fetch %v; peak memory (anonymous / resident, MiB) of each node:", size>>20, took.Round(time.Second), fetchTook.Round(time.Second))
		for _, s := range samplers {
			anon, rss := s.stop()
			row = append(row, peak{anon, rss})
			line += fmt.Sprintf(" %d / %d", anon>>20, rss>>20)
		}
		peaks = append(peaks, row)
		report = append(report, line)
	}
	for _, l := range report {
		t.Log(l)
	}
	for j := range nodes {
		first, last := peaks[0][j].anon, peaks[len(peaks)-1][j].anon
		if last > 2*first+64<<20 {
			t.Errorf("node %d: anonymous memory peaked at %d MiB for %d MiB and at %d MiB for %d MiB: it grows with the file", j, first>>20, sizes[0]>>20, last>>20, sizes[len(sizes)-1]>>20)
		}
		for i := range sizes {
			if a := peaks[i][j].anon; a > 256<<20 {
				t.Errorf("node %d: anonymous memory peaked at %d MiB during the %d MiB file, over 256 MiB", j, a>>20, sizes[i]>>20)
			}
		}
	}
}

// hashCount hashes and counts what is written to it.
type hashCount struct {
	h hash.Hash
	n int64
}

func (c *hashCount) Write(p []byte) (int, error) { c.n += int64(len(p)); return c.h.Write(p) }

// procMemory samples a process's anonymous and resident memory every 100 ms, for their peaks.
type procMemory struct {
	quit, done chan struct{}
	mu         sync.Mutex
	anon, rss  uint64 // peaks; guarded by mu
}

func sampleMemory(pid int) *procMemory {
	m := &procMemory{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			anon, rss := pidStatus(pid, "RssAnon"), pidStatus(pid, "VmRSS")
			m.mu.Lock()
			m.anon, m.rss = max(m.anon, anon), max(m.rss, rss)
			m.mu.Unlock()
			select {
			case <-m.quit:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

func (m *procMemory) stop() (anon, rss uint64) {
	close(m.quit)
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.anon, m.rss
}

// pidStatus reads a field in kB of /proc/PID/status, in bytes; 0 if there is none.
func pidStatus(pid int, field string) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
