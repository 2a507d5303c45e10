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

// On a full disk a block to be stored takes none of the cache's room: the first store put
// that finds no room fails with ErrDiskFull and changes nothing, while cache puts go on, each
// making room in the cache. Every block put in the store is kept; the store stays consistent
// and readable, and takes puts again once there is room.
func TestDiskFullLeavesTheStoreUsable(t *testing.T) {
	disk := disktest.Mount(t, 4<<20)
	filler := filepath.Join(disk, "filler")
	fill(t, filler, 1<<20)
	path := filepath.Join(disk, "store.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	var stored []testBlock
	var full testBlock
	cached := 0
	for i := 0; ; i++ {
		if i == 400 {
			t.Fatal("400 blocks fitted on a 4 MiB disk")
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

func TestOpenOnAFullDisk(t *testing.T) {
	disk := disktest.Mount(t, 1<<20)
	fill(t, filepath.Join(disk, "filler"), -1)
	_, err := Open(filepath.Join(disk, "store.db"), Options{StoreBytes: crypto.CHKBlockSize})
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Open on a full disk: %v, want ErrDiskFull", err)
	}
}
