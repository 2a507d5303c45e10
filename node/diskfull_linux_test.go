package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"lethe/datastore"
)

// On a full disk the status file cannot be made anew, but it still tells what the node is
// doing, and that its disk is full: `lethe status` shows the node rather than no node.
func TestStatusFileOnAFullDisk(t *testing.T) {
	disk := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(disk, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", disk, "tmpfs", 0, "size=2m"); err != nil {
		t.Skipf("cannot mount a tmpfs to fill up (mounting needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(disk, 0); err != nil {
			t.Errorf("unmount %s: %v", disk, err)
		}
	})
	dir := filepath.Join(disk, "node")
	n, err := New(Config{Dir: dir, ListenAddr: "127.0.0.1:0", FCPAddr: Off, ProxyAddr: Off, StoreBytes: 1 << 20, CacheBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	n.writeStatus()
	first, err := ReadStatus(dir)
	if err != nil {
		t.Fatal(err)
	}
	if first.DiskFull {
		t.Fatal("a new node reports a full disk")
	}

	// Fill the disk to the last byte, and let the store find it full.
	f, err := os.Create(filepath.Join(disk, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()
	if err := writeFileAtomic(filepath.Join(dir, "probe"), make([]byte, 100), 0o600); !noSpace(err) {
		t.Fatalf("a new file on the full disk: %v, want ENOSPC", err)
	}
	n.store.disk.note(fmt.Errorf("put: %w", datastore.ErrDiskFull))
	for range 25 { // more errors than the status keeps, each growing the status a little
		n.log.Warn("a warning with a long message to make the status longer than it was at first")
	}

	time.Sleep(10 * time.Millisecond) // the status's time moves on
	n.writeStatus()
	st, err := ReadStatus(dir)
	if err != nil {
		t.Fatalf("status on a full disk: %v", err)
	}
	if !st.DiskFull || st.DiskFullWrites != 1 {
		t.Errorf("status on a full disk: DiskFull %v after %d refused writes, want true after 1", st.DiskFull, st.DiskFullWrites)
	}
	if !st.Time.After(first.Time) {
		t.Errorf("the status file was not rewritten: time %v, first %v", st.Time, first.Time)
	}
	if len(st.Errors) == 0 || !strings.Contains(st.Errors[len(st.Errors)-1], "a warning") {
		t.Errorf("the status's errors %q lack the last warning", st.Errors)
	}
}

func TestDiskWatch(t *testing.T) {
	var d diskWatch
	now := time.Now()
	if d.full(now) {
		t.Fatal("full before any write")
	}
	d.note(nil)
	d.note(errors.New("some other failure"))
	if d.full(now) || d.refused.Load() != 0 {
		t.Fatal("full after writes that were not refused for lack of space")
	}
	d.note(fmt.Errorf("commit: %w", datastore.ErrDiskFull))
	if !d.full(time.Now()) || d.refused.Load() != 1 {
		t.Fatal("not full after a refused write")
	}
	if d.full(time.Now().Add(diskFullFor)) {
		t.Error("still full a minute after the last refused write")
	}
}
