package datastore

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"lethe/crypto"
)

// smallDisk mounts a tmpfs of the given size and returns its path. Mounting needs root
// (Lethe's CI and development machines run as root); elsewhere the test cannot make a full
// disk and says so.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a %s tmpfs to fill up (mounting needs root): %v", size, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

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

// A put that finds the disk full fails with ErrDiskFull and changes nothing; the store stays
// consistent and readable, and takes puts again once there is room.
func TestDiskFullLeavesTheStoreUsable(t *testing.T) {
	disk := smallDisk(t, "4m")
	filler := filepath.Join(disk, "filler")
	fill(t, filler, 1<<20)
	path := filepath.Join(disk, "store.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	var held []testBlock
	var full testBlock
	for i := 0; ; i++ {
		if i == 400 {
			t.Fatal("400 blocks fitted on a 4 MiB disk")
		}
		b := chkBlock(t, "full", i)
		err := s.Put(b.kt, b.rk, b.block, []Area{AreaStore, AreaCache}[i%2])
		if errors.Is(err, ErrDiskFull) {
			full = b
			break
		}
		if err != nil {
			t.Fatalf("put %d: %v, want nil or ErrDiskFull", i, err)
		}
		held = append(held, b)
	}
	t.Logf("disk full after %d blocks", len(held))
	if len(held) == 0 {
		t.Fatal("no block fitted")
	}
	if s.Has(full.kt, full.rk) {
		t.Error("the block whose put failed is held")
	}
	mustCheck(t, s)
	for _, b := range held {
		mustGet(t, s, b)
	}
	if st := s.Stats(); st.Store.Blocks+st.Cache.Blocks != int64(len(held)) {
		t.Errorf("stats count %d blocks, %d were put", st.Store.Blocks+st.Cache.Blocks, len(held))
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
	for _, b := range append(held, full) {
		mustGet(t, s, b)
	}
}

func TestOpenOnAFullDisk(t *testing.T) {
	disk := smallDisk(t, "1m")
	fill(t, filepath.Join(disk, "filler"), -1)
	_, err := Open(filepath.Join(disk, "store.db"), Options{StoreBytes: crypto.CHKBlockSize})
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Open on a full disk: %v, want ErrDiskFull", err)
	}
}
