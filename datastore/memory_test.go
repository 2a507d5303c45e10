package datastore

import (
	"os"
	"runtime"
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
	n := 200
	if os.Getenv("LETHE_LONG") != "" {
		n = 6000
	}
	s := openTest(t, Options{StoreBytes: int64(10*n) * crypto.CHKBlockSize, CacheBytes: 64 * crypto.CHKBlockSize})
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
}
