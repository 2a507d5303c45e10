package datastore

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
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
)

// The crash test runs a child process (this test binary again) that writes blocks from
// several goroutines, kills it with SIGKILL at a random moment, reopens the store and checks
// it: it opens, Check passes, every block it serves is the one written and verifies, and every
// put the child saw acknowledged into the store area is there.
const (
	crashChildEnv = "LETHE_DATASTORE_CRASH_CHILD"  // the store's path: run as the child
	crashStartEnv = "LETHE_DATASTORE_CRASH_START"  // first block index the child writes
	crashSyncEnv  = "LETHE_DATASTORE_CRASH_NOSYNC" // "1": the child commits without fsync
	crashBlocks   = 300                            // block indices; even ones go to the store area
	crashCache    = 20                             // cache bound, in CHK blocks: it evicts all along
	crashWriters  = 8
)

var crashOptions = Options{
	StoreBytes: crashBlocks / 2 * crypto.CHKBlockSize, // all the store's blocks fit: none may vanish
	CacheBytes: crashCache * crypto.CHKBlockSize,
	Location:   0.4,
}

func TestCrashSafety(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	kills := 24
	if os.Getenv("LETHE_LONG") != "" {
		kills = 200
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	path := filepath.Join(t.TempDir(), "store.db")
	acked := map[int]bool{} // store-area blocks acknowledged by some child
	expected := make([]testBlock, crashBlocks)
	for i := range expected {
		expected[i] = crashBlock(i)
	}
	totalAcks := 0
	for kill := range kills {
		start := rng.IntN(crashBlocks)
		noSync := kill%2 == 1
		acks := runAndKill(t, path, start, noSync, time.Duration(5+rng.IntN(150))*time.Millisecond)
		totalAcks += len(acks)
		for _, i := range acks {
			if i%2 == 0 {
				acked[i] = true
			}
		}
		s, err := Open(path, crashOptions)
		if err != nil {
			t.Fatalf("kill %d: reopen: %v", kill, err)
		}
		if err := s.Check(); err != nil {
			t.Fatalf("kill %d: Check: %v", kill, err)
		}
		for i, b := range expected {
			got, err := s.Get(b.kt, b.rk)
			switch {
			case errors.Is(err, ErrNotFound):
				if acked[i] {
					t.Fatalf("kill %d: block %d, acknowledged into the store, is gone", kill, i)
				}
			case err != nil:
				t.Fatalf("kill %d: Get %d: %v", kill, i, err)
			case string(got) != string(b.block):
				t.Fatalf("kill %d: block %d served with other bytes", kill, i)
			default:
				if err := verify(b.kt, b.rk, got); err != nil {
					t.Fatalf("kill %d: block %d served does not verify: %v", kill, i, err)
				}
			}
		}
		if st := s.Stats(); st.Damaged != 0 || st.Cache.Bytes > st.Cache.Bound || st.Store.Bytes > st.Store.Bound {
			t.Fatalf("kill %d: stats %+v", kill, st)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if totalAcks < kills {
		t.Errorf("the children acknowledged only %d puts in %d runs: the kills hit nothing", totalAcks, kills)
	}
	t.Logf("%d kills, %d puts acknowledged, %d store blocks held", kills, totalAcks, len(acked))
}

// crashBlock is block i of the crash test; one in ten is an SSK block.
func crashBlock(i int) testBlock {
	if i%10 == 3 {
		b, err := newSSKBlock(fmt.Sprint("crash-", i), "crash test")
		if err != nil {
			panic(err)
		}
		return b
	}
	return newCHKBlock("crash", i)
}

// runAndKill starts the child, lets it write for d after it has opened the store, kills it
// and returns the block indices whose puts it reported done.
func runAndKill(t *testing.T, path string, start int, noSync bool, d time.Duration) []int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashSafety$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path, crashStartEnv+"="+strconv.Itoa(start))
	if noSync {
		cmd.Env = append(cmd.Env, crashSyncEnv+"=1")
	}
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
	var (
		mu   sync.Mutex
		acks []int
	)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "ready":
				close(ready)
			case strings.HasPrefix(line, "acked "):
				i, _ := strconv.Atoi(strings.TrimPrefix(line, "acked "))
				mu.Lock()
				acks = append(acks, i)
				mu.Unlock()
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child did not open the store: %s", stderr.String())
	}
	time.Sleep(d)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-readDone
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended other than by SIGKILL: %v\n%s", err, stderr.String())
	}
	mu.Lock()
	defer mu.Unlock()
	return acks
}

// crashChild writes blocks until it is killed, printing "acked i" after each put returns nil.
func crashChild(path string) {
	start, _ := strconv.Atoi(os.Getenv(crashStartEnv))
	opts := crashOptions
	opts.noSync = os.Getenv(crashSyncEnv) == "1"
	s, err := Open(path, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	var out sync.Mutex
	fmt.Println("ready")
	var wg sync.WaitGroup
	for w := range crashWriters {
		wg.Go(func() {
			for n := w; ; n += crashWriters {
				i := (start + n) % crashBlocks
				b := crashBlock(i)
				area := AreaCache
				if i%2 == 0 {
					area = AreaStore
				}
				if err := s.Put(b.kt, b.rk, b.block, area); err != nil {
					fmt.Fprintln(os.Stderr, "child: put:", err)
					os.Exit(4)
				}
				out.Lock()
				fmt.Printf("acked %d\n", i)
				out.Unlock()
				if _, err := s.Get(b.kt, b.rk); err != nil && !errors.Is(err, ErrNotFound) {
					fmt.Fprintln(os.Stderr, "child: get:", err)
					os.Exit(5)
				}
			}
		})
	}
	wg.Wait()
}
