package datastore

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"lethe/crypto"
)

// putMany puts blocks [from, to) of a series from several goroutines, so they batch.
func putMany(tb testing.TB, s *Store, series string, from, to int, area Area) {
	tb.Helper()
	var wg sync.WaitGroup
	const workers = 8
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := from + w; i < to; i += workers {
				b := newCHKBlock(series, i)
				if err := s.Put(b.kt, b.rk, b.block, area); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// The Go heap does not grow with the number of blocks held: the eviction order lives in bbolt,
// and what is in memory is sized by the bounds. Stored blocks five times over leave the heap
// where a fifth of them left it, within a slack. (bbolt itself keeps, in its freelist, a map
// entry for each page run a transaction allocated since Open, some 30 bytes per two blocks
// written: about half a MiB per GiB of store, bounded by the file; docs/performance.md.)
func TestMemoryDoesNotGrowWithBlocksStored(t *testing.T) {
	if path := os.Getenv(memoryChildEnv); path != "" {
		memoryChild(path)
		return
	}
	n := 200
	if os.Getenv("LETHE_LONG") != "" {
		n = 6500 // 32,500 blocks: a 1 GiB store
	}
	opts := Options{StoreBytes: int64(10*n) * crypto.CHKBlockSize, CacheBytes: 64 * crypto.CHKBlockSize}
	s := openTest(t, opts)
	putMany(t, s, "memory", 0, n, AreaStore)
	putMany(t, s, "memory-cache", 0, 100, AreaCache)
	before := heapInUse()
	putMany(t, s, "memory", n, 5*n, AreaStore)
	putMany(t, s, "memory-cache", 100, 500, AreaCache)
	after := heapInUse()
	st := s.Stats()
	t.Logf("heap in use: %d KiB with %d blocks, %d KiB with %d blocks (store %d MiB, file mapped, not on the heap)",
		before>>10, n+64, after>>10, st.Store.Blocks+st.Cache.Blocks, st.Store.Bytes>>20)
	if st.Store.Blocks != int64(5*n) {
		t.Fatalf("store holds %d blocks, want %d", st.Store.Blocks, 5*n)
	}
	const slack = 4 << 20
	if after > before+slack {
		t.Errorf("heap grew from %d to %d KiB while the store went from %d to %d blocks", before>>10, after>>10, n, 5*n)
	}

	// A node that has just opened the store holds little of it: the file is mapped, and
	// only the pages read are in memory, as page cache that the kernel reclaims at will.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("file %d MiB for %d MiB of blocks (%.1f%% more)", fi.Size()>>20, (st.Store.Bytes+st.Cache.Bytes)>>20,
		100*(float64(fi.Size())/float64(st.Store.Bytes+st.Cache.Bytes)-1))
	cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryDoesNotGrowWithBlocksStored$", "-test.count=1")
	cmd.Env = append(os.Environ(), memoryChildEnv+"="+s.path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	mem := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && strings.HasPrefix(k, "mem.") {
			mem[k], _ = strconv.ParseInt(v, 10, 64)
		}
	}
	t.Logf("a process that opened the store: RssAnon %d KiB, RssFile %d KiB, Go heap %d KiB; after 1000 gets: RssAnon %d KiB, RssFile %d KiB",
		mem["mem.open.RssAnon"], mem["mem.open.RssFile"], mem["mem.open.heap"]>>10, mem["mem.gets.RssAnon"], mem["mem.gets.RssFile"])
	if mem["mem.open.RssAnon"] == 0 {
		t.Fatalf("child reported no memory figures:\n%s", out)
	}
	const idleTarget = 40 << 10 // KiB: docs/design.md §5, an idle node with a 1 GiB store
	if !raceEnabled && mem["mem.open.RssAnon"] > idleTarget {
		t.Errorf("a process that opened the store holds %d KiB of anonymous memory", mem["mem.open.RssAnon"])
	}
}

const memoryChildEnv = "LETHE_DATASTORE_MEMORY_CHILD"

// memoryChild opens the store at path and prints its process's memory, then reads 1000 blocks
// and prints it again.
func memoryChild(path string) {
	s, err := Open(path, Options{StoreBytes: 1 << 40, CacheBytes: 1 << 40})
	if err != nil {
		fmt.Println("child:", err)
		os.Exit(3)
	}
	defer s.Close()
	report := func(when string) {
		status, _ := os.ReadFile("/proc/self/status")
		for _, line := range strings.Split(string(status), "\n") {
			k, v, _ := strings.Cut(line, ":")
			if k == "RssAnon" || k == "RssFile" {
				fmt.Printf("mem.%s.%s=%s\n", when, k, strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			}
		}
		fmt.Printf("mem.%s.heap=%d\n", when, heapInUse())
	}
	report("open")
	for i := range 1000 {
		b := newCHKBlock("memory", i)
		if _, err := s.Get(b.kt, b.rk); err != nil {
			fmt.Println("child:", err)
			os.Exit(4)
		}
	}
	report("gets")
}
