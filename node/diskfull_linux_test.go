package node

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/datastore"
	"lethe/datastore/disktest"
)

// On a full disk the status file cannot be made anew, but it still tells what the node is
// doing, and that its disk is full: `lethe status` shows the node rather than no node.
func TestStatusFileOnAFullDisk(t *testing.T) {
	disk := disktest.Mount(t, 2<<20)
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
	if err := writeFileAtomic(filepath.Join(dir, "probe"), make([]byte, 100), 0o600); !datastore.NoSpace(err) {
		t.Fatalf("a new file on the full disk: %v, want ENOSPC", err)
	}
	block, key, err := crypto.EncodeCHKConvergent(make([]byte, crypto.CHKDataSize))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.store.Store(crypto.CHK, key.Routing, block); !errors.Is(err, datastore.ErrDiskFull) {
		t.Fatalf("a block stored on the full disk: %v, want ErrDiskFull", err)
	}
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

// TestDiskFullFor: the node reports its disk full for diskFullFor after a write last found
// it full, and not before any did.
func TestDiskFullFor(t *testing.T) {
	now := time.Now()
	if diskFull(datastore.Stats{}, now) {
		t.Error("full before any write found the disk full")
	}
	at := datastore.Stats{DiskFullAt: now.Add(-time.Second)}
	if !diskFull(at, now) {
		t.Error("not full a second after a write found the disk full")
	}
	if diskFull(at, now.Add(diskFullFor)) {
		t.Error("still full a minute after the last write that found the disk full")
	}
}
