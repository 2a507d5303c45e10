package datastore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"lethe/crypto"
)

// Writers, readers, Check and SetLocation at once, with bounds small enough that every put
// evicts: run under -race. Every get returns the exact block or ErrNotFound, the bounds hold
// throughout, and the store checks clean at the end.
func TestConcurrentReadersAndWriters(t *testing.T) {
	checkNoLeak(t)
	s := openTest(t, Options{StoreBytes: 30 * crypto.CHKBlockSize, CacheBytes: 20 * crypto.CHKBlockSize, Location: 0.5})
	blocks := chkBlocks(t, "concurrent", 120)
	for i := range 6 {
		blocks = append(blocks, sskBlock(t, fmt.Sprint("concurrent-", i), "ssk"))
	}
	const writers, readers, putsEach, getsEach = 6, 6, 120, 400
	var wg sync.WaitGroup
	errs := make(chan error, writers+readers+1)
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range putsEach {
				b := blocks[rng.IntN(len(blocks))]
				area := []Area{AreaStore, AreaCache}[rng.IntN(2)]
				if err := s.Put(b.kt, b.rk, b.block, area); err != nil {
					errs <- fmt.Errorf("Put: %w", err)
					return
				}
				if st := s.Stats(); st.Store.Bytes > st.Store.Bound || st.Cache.Bytes > st.Cache.Bound {
					errs <- fmt.Errorf("bounds exceeded: %+v", st)
					return
				}
			}
		})
	}
	for r := range readers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 2))
			for range getsEach {
				b := blocks[rng.IntN(len(blocks))]
				got, err := s.Get(b.kt, b.rk)
				switch {
				case errors.Is(err, ErrNotFound):
				case err != nil:
					errs <- fmt.Errorf("Get: %w", err)
					return
				case string(got) != string(b.block):
					errs <- errors.New("Get returned another block")
					return
				}
				s.Has(b.kt, b.rk)
			}
		})
	}
	stop := make(chan struct{})
	var checker sync.WaitGroup
	checker.Go(func() {
		rng := rand.New(rand.NewPCG(9, 3))
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := s.Check(); err != nil {
				errs <- fmt.Errorf("Check during writes: %w", err)
				return
			}
			s.SetLocation(crypto.Location(rng.Float64()))
		}
	})
	wg.Wait()
	close(stop)
	checker.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := s.Stats()
	if st.Puts == 0 || st.Hits == 0 || st.Evictions == 0 {
		t.Errorf("the test exercised too little: %+v", st)
	}
	t.Logf("%+v", st)
}
