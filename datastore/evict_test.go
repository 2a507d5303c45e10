package datastore

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"lethe/crypto"
)

// checkClosestKept asserts that the store area holds exactly want blocks of offered and that
// each block held is at least as close to l as each block not held: the far ones went.
func checkClosestKept(t *testing.T, s *Store, l crypto.Location, offered []testBlock, want int) {
	t.Helper()
	var held, gone []float64
	for _, b := range offered {
		if s.Has(b.kt, b.rk) {
			held = append(held, distanceOf(l, b))
			mustGet(t, s, b)
		} else {
			gone = append(gone, distanceOf(l, b))
		}
	}
	if len(held) != want {
		t.Fatalf("store holds %d of the blocks, want %d", len(held), want)
	}
	if len(gone) > 0 && slices.Max(held) > slices.Min(gone) {
		t.Fatalf("a block at distance %v was kept while one at %v was evicted", slices.Max(held), slices.Min(gone))
	}
}

func TestStoreKeepsTheClosestBlocks(t *testing.T) {
	blocks := chkBlocks(t, "closest", 200) // their keys are hashes: random order round the circle
	for _, l := range []crypto.Location{0, 0.3, 0.999} {
		t.Run(fmt.Sprint(float64(l)), func(t *testing.T) {
			s := openTest(t, Options{StoreBytes: 100 * crypto.CHKBlockSize, Location: l})
			for _, b := range blocks {
				mustPut(t, s, b, AreaStore)
				if st := s.Stats(); st.Store.Bytes > st.Store.Bound {
					t.Fatalf("store holds %d bytes, over its bound %d", st.Store.Bytes, st.Store.Bound)
				}
			}
			checkClosestKept(t, s, l, blocks, 100)
			st := s.Stats()
			if st.Store.Blocks != 100 || st.Store.Bytes != 100*crypto.CHKBlockSize {
				t.Errorf("store %d blocks %d bytes", st.Store.Blocks, st.Store.Bytes)
			}
			if st.Evictions+st.Rejected != 100 || st.Puts-st.Evictions != 100 {
				t.Errorf("puts %d evictions %d rejected %d", st.Puts, st.Evictions, st.Rejected)
			}
		})
	}
}

func TestStoreEvictsByTheNewLocationAfterSetLocation(t *testing.T) {
	s := openTest(t, Options{StoreBytes: 50 * crypto.CHKBlockSize, Location: 0.2})
	first := chkBlocks(t, "move-a", 100)
	for _, b := range first {
		mustPut(t, s, b, AreaStore)
	}
	checkClosestKept(t, s, 0.2, first, 50)
	var held []testBlock
	for _, b := range first {
		if s.Has(b.kt, b.rk) {
			held = append(held, b)
		}
	}
	s.SetLocation(0.7)
	second := chkBlocks(t, "move-b", 100)
	for _, b := range second {
		mustPut(t, s, b, AreaStore)
	}
	// Inserting one at a time into a bound that keeps the closest gives the closest 50 of
	// everything it was offered since the move.
	checkClosestKept(t, s, 0.7, append(held, second...), 50)
}

func TestStoreBoundInBytesWithMixedBlockSizes(t *testing.T) {
	bound := int64(3*crypto.CHKBlockSize + 2*crypto.SSKBlockSize)
	s := openTest(t, Options{StoreBytes: bound, Location: 0.5})
	var blocks []testBlock
	for i := range 6 {
		blocks = append(blocks, chkBlock(t, "mixed", i), sskBlock(t, fmt.Sprint("mixed-", i), "p"))
	}
	for _, b := range blocks {
		mustPut(t, s, b, AreaStore)
		if st := s.Stats(); st.Store.Bytes > bound {
			t.Fatalf("store holds %d bytes, over its bound %d", st.Store.Bytes, bound)
		}
	}
	// Mixed sizes: whatever is held, nothing farther than a block that went may stay.
	var held, gone []float64
	var bytes int64
	for _, b := range blocks {
		if s.Has(b.kt, b.rk) {
			held = append(held, distanceOf(0.5, b))
			bytes += blockSize(b.kt)
		} else {
			gone = append(gone, distanceOf(0.5, b))
		}
	}
	if st := s.Stats(); st.Store.Bytes != bytes {
		t.Errorf("store accounts %d bytes, holds %d", st.Store.Bytes, bytes)
	}
	if slices.Max(held) > slices.Min(gone) {
		t.Errorf("kept a block at %v, evicted one at %v", slices.Max(held), slices.Min(gone))
	}
}

func TestCacheIsFirstInFirstOutWithoutRequests(t *testing.T) {
	s := openTest(t, Options{CacheBytes: 100 * crypto.CHKBlockSize})
	blocks := chkBlocks(t, "fifo", 150)
	for _, b := range blocks {
		mustPut(t, s, b, AreaCache)
	}
	for i, b := range blocks {
		if held := s.Has(b.kt, b.rk); held != (i >= 50) {
			t.Errorf("block %d held = %v", i, held)
		}
	}
	if st := s.Stats(); st.Cache.Blocks != 100 || st.Evictions != 50 {
		t.Errorf("cache %d blocks, %d evictions", st.Cache.Blocks, st.Evictions)
	}
}

// A scan of blocks nobody asks for again, three times the cache, must not flush the blocks
// that were requested since they were cached.
func TestCacheScanDoesNotFlushPopularBlocks(t *testing.T) {
	s := openTest(t, Options{CacheBytes: 100 * crypto.CHKBlockSize})
	first := chkBlocks(t, "first", 100)
	for _, b := range first {
		mustPut(t, s, b, AreaCache)
	}
	for _, b := range first[:20] {
		mustGet(t, s, b) // popular
	}
	scan := chkBlocks(t, "scan", 300)
	for _, b := range scan {
		mustPut(t, s, b, AreaCache)
	}
	for i, b := range first {
		if held := s.Has(b.kt, b.rk); held != (i < 20) {
			t.Errorf("first block %d held = %v", i, held)
		}
	}
	for i, b := range scan {
		if held := s.Has(b.kt, b.rk); held != (i >= 220) {
			t.Errorf("scan block %d held = %v", i, held)
		}
	}
	st := s.Stats()
	if st.Cache.Popular != 20*crypto.CHKBlockSize {
		t.Errorf("popular bytes %d, want 20 blocks", st.Cache.Popular)
	}
	if st.Cache.Blocks != 100 || st.Cache.Bytes != 100*crypto.CHKBlockSize {
		t.Errorf("cache %d blocks %d bytes", st.Cache.Blocks, st.Cache.Bytes)
	}
}

// When more blocks are popular than the protected share holds, the ones not requested again
// are demoted to probation and evicted before the ones that are.
func TestCacheDemotesPopularBlocksNotRequestedAgain(t *testing.T) {
	s := openTest(t, Options{CacheBytes: 8 * crypto.CHKBlockSize}) // protected share: 6 blocks
	a := chkBlocks(t, "demote-a", 8)
	b := chkBlocks(t, "demote-b", 5)
	for _, x := range a {
		mustPut(t, s, x, AreaCache)
	}
	for _, x := range a {
		mustGet(t, s, x) // all eight requested again: more than the protected share
	}
	// The hand promotes all eight, then demotes a0 and a1 to bring the protected segment
	// back to its share, and evicts a0, now in probation and not requested since.
	mustPut(t, s, b[0], AreaCache)
	for _, x := range append(a[4:], b[0]) {
		mustGet(t, s, x)
	}
	for _, x := range b[1:] {
		mustPut(t, s, x, AreaCache)
	}
	// b0's promotion pushed the protected segment over its share again: a2, the first
	// protected block not requested since, was demoted and then evicted. a4..a7 and b0,
	// requested again, stay; a3, still within the share, stays too.
	want := map[string]bool{}
	for _, x := range append(a[3:], b[0], b[3], b[4]) {
		want[string(x.rk[:])] = true
	}
	for i, x := range append(a, b...) {
		if held := s.Has(x.kt, x.rk); held != want[string(x.rk[:])] {
			t.Errorf("block %d of a‖b held = %v", i, held)
		}
	}
	if st := s.Stats(); st.Cache.Popular != 6*crypto.CHKBlockSize || st.Cache.Blocks != 8 {
		t.Errorf("protected segment holds %d bytes, want its share of 6 blocks; cache %d blocks", st.Cache.Popular, st.Cache.Blocks)
	}
}

func TestOpenShrinksToALoweredBound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s := openAt(t, path, Options{StoreBytes: 100 * crypto.CHKBlockSize, CacheBytes: 40 * crypto.CHKBlockSize, Location: 0.6})
	stored := chkBlocks(t, "shrink-store", 100)
	cached := chkBlocks(t, "shrink-cache", 40)
	for i := range stored {
		mustPut(t, s, stored[i], AreaStore)
	}
	for i := range cached {
		mustPut(t, s, cached[i], AreaCache)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path, Options{StoreBytes: 30 * crypto.CHKBlockSize, CacheBytes: 10 * crypto.CHKBlockSize, Location: 0.6})
	checkClosestKept(t, s, 0.6, stored, 30)
	for i, b := range cached {
		if held := s.Has(b.kt, b.rk); held != (i >= 30) {
			t.Errorf("cached block %d held = %v", i, held)
		}
	}
}

func TestFarthestVisitsEveryBlockOnce(t *testing.T) {
	for _, l := range []crypto.Location{0, 0.25, 0.5, 0.75, 0.99999} {
		t.Run(fmt.Sprint(float64(l)), func(t *testing.T) {
			s := openTest(t, Options{Location: l})
			blocks := chkBlocks(t, "walk", 64)
			for _, b := range blocks {
				mustPut(t, s, b, AreaStore)
			}
			var dists []float64
			seen := map[uint64]bool{}
			s.view(func(tx *boltTx) error {
				f := newFarthest(tx.Bucket(bucketStore), l)
				for {
					v, found, err := f.next()
					if err != nil {
						t.Fatal(err)
					}
					if !found {
						return nil
					}
					if seen[v.seq] {
						t.Fatalf("record %d visited twice", v.seq)
					}
					seen[v.seq] = true
					dists = append(dists, v.dist)
				}
			})
			if len(seen) != len(blocks) {
				t.Fatalf("visited %d of %d blocks", len(seen), len(blocks))
			}
			if !slices.IsSortedFunc(dists, func(a, b float64) int { return -cmpFloat(a, b) }) {
				t.Fatalf("not farthest first: %v", dists)
			}
		})
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
