package tests

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/datastore"
)

// TestIdleNodeMemory runs `lethe node` as its own process with a 1 GiB store and reads its
// resident memory (VmRSS) once it has sat idle: it must stay under 40 MiB. With LETHE_LONG=1
// the store is first filled to its 1 GiB bound.
func TestIdleNodeMemory(t *testing.T) {
	if raceEnabled {
		t.Log("under the race detector the node's memory is the detector's; measuring a plain build")
	}
	bin := filepath.Join(t.TempDir(), "lethe")
	build := exec.Command("go", "build", "-o", bin, "lethe/cmd/lethe")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	if long() {
		fillStore(t, filepath.Join(dir, "store.db"), datastore.DefaultStoreBytes)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "node", "--dir", dir, "--listen", "127.0.0.1:0", "--fcp", "127.0.0.1:0", "--proxy", "off", "--store-size", "1GiB")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	var once sync.Once
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			if strings.Contains(s.Text(), "Press Ctrl-C") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatalf("the node did not start:\n%s", stderr.String())
	}
	time.Sleep(5 * time.Second) // idle: a few status rounds
	rss := vmRSS(t, cmd.Process.Pid)
	t.Logf("idle node with a 1 GiB store bound (filled: %v): VmRSS %.1f MiB", long(), float64(rss)/(1<<20))
	if rss >= 40<<20 {
		t.Errorf("idle node holds %.1f MiB, want under 40 MiB", float64(rss)/(1<<20))
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Errorf("lethe node after SIGINT: %v\n%s", err, stderr.String())
	}
}

// vmRSS reads a process's resident set size from /proc.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}

// fillStore puts CHK blocks into a store until its store area holds bytes.
func fillStore(t *testing.T, path string, bytes int64) {
	t.Helper()
	s, err := datastore.Open(path, datastore.Options{StoreBytes: bytes})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	blocks := make(chan int)
	for range 32 {
		wg.Go(func() {
			payload := make([]byte, crypto.CHKDataSize)
			for range blocks {
				rand.Read(payload[:64])
				block, key, err := crypto.EncodeCHK(rand.Reader, payload)
				if err != nil {
					t.Error(err)
					return
				}
				if err := s.Put(crypto.CHK, key.Routing, block, datastore.AreaStore); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for i := int64(0); i < bytes/crypto.CHKBlockSize; i++ {
		blocks <- int(i)
	}
	close(blocks)
	wg.Wait()
	t.Logf("store filled: %+v", s.Stats().Store)
}
