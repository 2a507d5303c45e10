package datastore

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/datastore/disktest"
)

// fill writes a file of n bytes, or until the disk is full if n is negative.
func fill(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for written := 0; n < 0 || written < n; written += len(buf) {
		if _, err := f.Write(buf); err != nil {
			if n < 0 && errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
}

// openOnSmallDisk opens a store on a 6 MiB disk that another program has filled with 2 MiB,
// the filler: removing it gives the store room for its reserve again. The store looks for room
// at every commit while the disk is full (roomProbeEvery), so the disk alone decides.
func openOnSmallDisk(t *testing.T) (s *Store, path, filler string) {
	t.Helper()
	every := roomProbeEvery
	roomProbeEvery = 0
	t.Cleanup(func() { roomProbeEvery = every })
	disk := disktest.Mount(t, 6<<20)
	filler = filepath.Join(disk, "filler")
	fill(t, filler, 2<<20)
	path = filepath.Join(disk, "store.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path, filler
}

// On a full disk a block to be stored takes none of the cache's room: the first store put
// that finds no room fails with ErrDiskFull and changes nothing, while cache puts go on, each
// making room in the cache. Every block put in the store is kept; the store stays consistent
// and readable, and takes puts again once the disk has room (for the reserve, 2 MiB).
func TestDiskFullLeavesTheStoreUsable(t *testing.T) {
	s, path, filler := openOnSmallDisk(t)

	var stored []testBlock
	var full testBlock
	cached := 0
	for i := 0; ; i++ {
		if i == 400 {
			t.Fatal("400 blocks fitted on a 6 MiB disk")
		}
		b := chkBlock(t, "full", i)
		area := []Area{AreaStore, AreaCache}[i%2]
		err := s.Put(b.kt, b.rk, b.block, area)
		if area == AreaStore && errors.Is(err, ErrDiskFull) {
			full = b
			break
		}
		if err != nil {
			t.Fatalf("%v put %d: %v, want nil (or ErrDiskFull for a block to be stored)", area, i, err)
		}
		if area == AreaStore {
			stored = append(stored, b)
		} else {
			cached++
		}
	}
	st := s.Stats()
	t.Logf("disk full after %d blocks stored and %d cached; the cache gave up %d for room and holds %d", len(stored), cached, st.Evictions, st.Cache.Blocks)
	if len(stored) == 0 {
		t.Fatal("no block fitted")
	}
	if s.Has(full.kt, full.rk) {
		t.Error("the block whose put failed is held")
	}
	if st.DiskFullWrites != 1 || time.Since(st.DiskFullAt) > time.Minute {
		t.Errorf("stats after one refused put: %d refused, disk last full at %v", st.DiskFullWrites, st.DiskFullAt)
	}
	// The cache goes on taking blocks on the full disk, each in the place of older ones.
	for i := range 20 {
		mustPut(t, s, chkBlock(t, "cached on the full disk", i), AreaCache)
		cached++
	}
	st = s.Stats()
	if st.Evictions == 0 {
		t.Error("the cache gave up no room on the full disk")
	}
	mustCheck(t, s)
	for _, b := range stored {
		mustGet(t, s, b)
	}
	if st.Store.Blocks < int64(len(stored)) || st.Cache.Blocks != int64(cached)-int64(st.Evictions) {
		t.Errorf("stats count %d stored and %d cached blocks; %d were stored, %d cached, %d evicted", st.Store.Blocks, st.Cache.Blocks, len(stored), cached, st.Evictions)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, full, AreaStore)
	mustCheck(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path, Options{})
	for _, b := range append(stored, full) {
		mustGet(t, s, b)
	}
}

// On a full disk the cache goes on caching: each block passing through takes the place of an
// older one, as if the cache's bound had come down to the room it holds. The store opened
// with its reserve beside it, for an eviction that could not otherwise commit.
func TestDiskFullCacheTurnsOver(t *testing.T) {
	disk := disktest.Mount(t, 4<<20)
	fill(t, filepath.Join(disk, "filler"), 1<<20)
	path := filepath.Join(disk, "store.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if fi, err := os.Stat(reservePath(path)); err != nil || fi.Size() != DefaultReserveBytes {
		t.Fatalf("reserve beside the store: %v, %v", fi, err)
	}
	const n = 300 // several times what fits
	var last testBlock
	for i := range n {
		last = chkBlock(t, "turnover", i)
		if err := s.Put(last.kt, last.rk, last.block, AreaCache); err != nil {
			t.Fatalf("cache put %d on a full disk: %v, want the cache to make room", i, err)
		}
	}
	st := s.Stats()
	t.Logf("%d blocks cached on a 4 MiB disk: %d held, %d evicted", n, st.Cache.Blocks, st.Evictions)
	if st.Evictions == 0 || st.Cache.Blocks+int64(st.Evictions) != n {
		t.Errorf("%d blocks held and %d evicted of %d cached", st.Cache.Blocks, st.Evictions, n)
	}
	_, err = os.Stat(reservePath(path))
	t.Logf("reserve given up: %v", errors.Is(err, os.ErrNotExist))
	mustGet(t, s, last)
	mustCheck(t, s)
}

// The room a full disk's cache makes stays the cache's: once a write has found the disk full,
// blocks to be stored take none of it, neither the room the cache's evictions free nor the
// reserve's, and a cached block is not moved into the store. Before, they did, block by block,
// until a node whose disk had filled could be left with an empty cache, its reserve given up
// and no room to cache anything again. When the disk has room again the store takes blocks
// again, and a reserve given up is written again without waiting for the next Open.
func TestDiskFullKeepsTheCacheItsRoom(t *testing.T) {
	s, path, filler := openOnSmallDisk(t)

	// The store fills the disk, with nothing in the cache.
	var stored []testBlock
	for i := 0; ; i++ {
		if i == 200 {
			t.Fatal("200 blocks fitted on a 6 MiB disk")
		}
		b := chkBlock(t, "stored", i)
		if err := s.Put(b.kt, b.rk, b.block, AreaStore); errors.Is(err, ErrDiskFull) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, b)
	}
	// A block passing through is cached; one to be stored is refused, and the cached
	// one is not moved into the store.
	first := chkBlock(t, "cached", 0)
	mustPut(t, s, first, AreaCache)
	if err := s.Put(first.kt, first.rk, first.block, AreaStore); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("storing the cached block on the full disk: %v, want ErrDiskFull", err)
	}
	// Blocks pass through, the cache making room for each on the full disk, and blocks
	// to be stored come between them: each is refused.
	const more = 200 // several times what the disk holds
	for i := 1; i <= more; i++ {
		c := chkBlock(t, "cached", i)
		if err := s.Put(c.kt, c.rk, c.block, AreaCache); err != nil {
			st := s.Stats()
			t.Fatalf("cache put %d on the full disk: %v; the cache holds %d blocks, evicted %d", i, err, st.Cache.Blocks, st.Evictions)
		}
		b := chkBlock(t, "refused", i)
		if err := s.Put(b.kt, b.rk, b.block, AreaStore); !errors.Is(err, ErrDiskFull) {
			t.Fatalf("store put %d after the cache made room on the full disk: %v, want ErrDiskFull", i, err)
		}
		if s.Has(b.kt, b.rk) {
			t.Fatalf("refused block %d is held", i)
		}
	}
	st := s.Stats()
	_, err := os.Stat(reservePath(path))
	t.Logf("on the full disk the cache holds %d blocks, evicted %d; the reserve given up: %v", st.Cache.Blocks, st.Evictions, errors.Is(err, os.ErrNotExist))
	if st.Cache.Blocks == 0 || st.Evictions == 0 || st.Cache.Blocks+int64(st.Evictions) != more+1 {
		t.Errorf("%d blocks cached and %d evicted of %d put", st.Cache.Blocks, st.Evictions, more+1)
	}
	if st.Store.Blocks != int64(len(stored)) || st.DiskFullWrites != more+2 {
		t.Errorf("%d blocks stored (%d put before the disk filled), %d puts refused", st.Store.Blocks, len(stored), st.DiskFullWrites)
	}
	mustCheck(t, s)

	// Room again: the store takes blocks, and the reserve is there.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	again := chkBlock(t, "refused", 1)
	mustPut(t, s, again, AreaStore)
	if fi, err := os.Stat(reservePath(path)); err != nil || fi.Size() != DefaultReserveBytes {
		t.Errorf("the reserve once the disk has room: %v, %v", fi, err)
	}
	for _, b := range append(stored, again) {
		mustGet(t, s, b)
	}
	mustCheck(t, s)
}

// While the store area is shut on a full disk, a block to be stored is refused before it is
// sealed and queued: between the writer's looks for room (every 10 s) a refused put costs no
// commit, which would change nothing but the count of refusals.
func TestDiskFullRefusesStorePutsWithoutCommits(t *testing.T) {
	disk := disktest.Mount(t, 4<<20)
	fill(t, filepath.Join(disk, "filler"), 1<<20)
	s, err := Open(filepath.Join(disk, "store.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	i := 0
	for ; ; i++ {
		if i == 200 {
			t.Fatal("200 blocks fitted on a 4 MiB disk")
		}
		b := chkBlock(t, "stored", i)
		if err := s.Put(b.kt, b.rk, b.block, AreaStore); errors.Is(err, ErrDiskFull) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	// The first put after goes to the writer, which finds no room and refuses it.
	if b := chkBlock(t, "stored", i+1); !errors.Is(s.Put(b.kt, b.rk, b.block, AreaStore), ErrDiskFull) {
		t.Fatal("a store put on the full disk was not refused")
	}
	commits, refused := s.commits.Load(), s.Stats().DiskFullWrites
	for j := range 20 {
		b := chkBlock(t, "refused", j)
		if err := s.Put(b.kt, b.rk, b.block, AreaStore); !errors.Is(err, ErrDiskFull) {
			t.Fatalf("store put %d on the full disk: %v, want ErrDiskFull", j, err)
		}
	}
	if n := s.commits.Load() - commits; n != 0 {
		t.Errorf("20 refused store puts took %d commits, want none", n)
	}
	if n := s.Stats().DiskFullWrites - refused; n != 20 {
		t.Errorf("%d refusals counted of 20", n)
	}
}

func TestOpenOnAFullDisk(t *testing.T) {
	disk := disktest.Mount(t, 1<<20)
	fill(t, filepath.Join(disk, "filler"), -1)
	_, err := Open(filepath.Join(disk, "store.db"), Options{StoreBytes: crypto.CHKBlockSize})
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Open on a full disk: %v, want ErrDiskFull", err)
	}
}
