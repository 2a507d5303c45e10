package tests

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"lethe/datastore"
	"lethe/datastore/disktest"
	"lethe/fcp"
	"lethe/node"
)

// fillDisk writes a file that leaves about room bytes free on the disk holding dir, as
// another program filling the disk would.
func fillDisk(tb testing.TB, dir string, room int64) string {
	tb.Helper()
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		tb.Fatal(err)
	}
	n := int64(fs.Bavail)*fs.Bsize - room
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for ; n > 0; n -= int64(len(buf)) {
		if _, err := f.Write(buf[:min(int64(len(buf)), n)]); err != nil {
			tb.Fatalf("fill the disk: %v", err)
		}
	}
	return path
}

func reportsDiskFull(st node.Status) bool {
	if st.DiskFull {
		return true
	}
	for _, e := range st.Errors {
		if strings.Contains(e, "disk full") {
			return true
		}
	}
	return false
}

// TestDiskFull runs a test network in which one node's data directory is on a small disk
// that another program has nearly filled, and inserts through the network until that node's
// store can grow no more. The node must say so (its status, as `lethe status` shows it),
// keep its cache within its bound and its store whole, keep routing: its peers' requests pass through
// it and every file the network acknowledged, before and after the disk filled, is fetched
// byte for byte at that node and at the farthest one; and when it stops, its store passes its
// check and holds every block it had acknowledged.
func TestDiskFull(t *testing.T) {
	const (
		full       = 2                // the node whose disk fills
		cacheBytes = 256 << 10        // 7 blocks: the cache evicts long before the disk fills
		storeBytes = 256 << 20        // more than the disk: the disk fills first
		diskSize   = 24 << 20         // the tmpfs
		room       = 1 << 20          // left free for the node by the program that filled the disk
		fileSize   = 384 << 10        // each insert
		maxFiles   = 200              // bound on the inserts until the disk is full
		timeLimit  = 40 * time.Second // bound on the time until the disk is full
	)
	disk := disktest.Mount(t, diskSize)
	dir := filepath.Join(disk, "node")
	tn, _ := startTestnet(t, 6, func(i int, c *node.Config) {
		if i == full {
			c.Dir, c.StoreBytes, c.CacheBytes = dir, storeBytes, cacheBytes
		}
	})
	n := tn.Nodes[full]
	fillDisk(t, disk, room)

	// Inserts at every other node in turn, so that blocks come to this one from all sides.
	var files []acked
	var ins []*fcp.Client
	for i, o := range tn.Nodes {
		if i != full {
			ins = append(ins, client(t, o))
		}
	}
	start := time.Now()
	for !reportsDiskFull(n.Status()) {
		if len(files) == maxFiles || time.Since(start) > timeLimit {
			st := n.Status()
			t.Fatalf("the disk did not fill after %d inserts in %v (store %d blocks, cache %d)", len(files), time.Since(start).Round(time.Second), st.Store.Blocks, st.Cache.Blocks)
		}
		data := randomBytes(fileSize, byte(len(files)))
		at := len(files) % len(ins)
		files = append(files, acked{uri: putFile(t, ins[at], data, fmt.Sprintf("full-%d.bin", len(files))), sum: sha256.Sum256(data), size: len(data)})
	}
	st := n.Status()
	t.Logf("node %d's disk full after %d inserts of %d KiB in %v: store %d blocks, cache %d blocks (%d KiB of %d KiB)",
		full, len(files), fileSize>>10, time.Since(start).Round(time.Millisecond), st.Store.Blocks, st.Cache.Blocks, st.Cache.Bytes>>10, st.Cache.Bound>>10)

	// The user sees it: `lethe status` reads the status file.
	deadline := time.Now().Add(10 * time.Second)
	for {
		onDisk, err := node.ReadStatus(dir)
		if err == nil && onDisk.DiskFull {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the status file does not say the disk is full 10 s after it filled (read: %v; node errors %q)", err, n.Status().Errors)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The network goes on: more inserts, at this node and elsewhere, are acknowledged.
	for i := range 4 {
		at := []int{0, full}[i%2]
		data := randomBytes(fileSize, byte(200+i))
		files = append(files, acked{uri: putFile(t, client(t, tn.Nodes[at]), data, fmt.Sprintf("after-%d.bin", i)), sum: sha256.Sum256(data), size: len(data), at: at})
	}
	// and every file comes back, through the full node and at the farthest node.
	far := tn.Farthest(full)
	atFull, atFar := client(t, n), client(t, tn.Nodes[far])
	for _, a := range files {
		fetchVerified(t, atFull, a, fmt.Sprintf("at node %d, whose disk is full", full))
		fetchVerified(t, atFar, a, fmt.Sprintf("at node %d", far))
	}
	// Blocks the full node relays but does not hold are what its cache takes; which blocks
	// its peers' requests bring through it depends on the keys. New files, fetched at its
	// peers, bring more through it until its cache has turned over (a bounded number).
	for i := 0; n.Status().Evictions <= st.Evictions && i < 12; i++ {
		data := randomBytes(fileSize, byte(100+i))
		a := acked{uri: putFile(t, ins[i%len(ins)], data, fmt.Sprintf("relayed-%d.bin", i)), sum: sha256.Sum256(data), size: len(data)}
		for j, c := range ins {
			fetchVerified(t, c, a, fmt.Sprintf("at peer %d of node %d", j, full))
		}
	}
	after := n.Status()
	// What reaches it counts from the moment its disk filled: in 6 nodes, each holding most
	// blocks, the fetches alone may pass nothing through it that is not its own.
	before := st.Routing
	if forPeers(after.Routing) == forPeers(before) {
		t.Errorf("node %d served no request of its peers after its disk filled (routed none, ended no tunnel, relayed no cell)", full)
	}
	// Far more blocks passed through than the cache holds: it stays within its bound, and
	// on the full disk it goes on turning over, each write that finds no room taking it from
	// the cache (spec §8.4). The store gives up nothing: no block it acknowledged is evicted
	// to make room for a newcomer.
	if after.Cache.Bytes > cacheBytes {
		t.Errorf("node %d's cache holds %d bytes in %d blocks, bound %d", full, after.Cache.Bytes, after.Cache.Blocks, cacheBytes)
	}

	if after.Evictions <= st.Evictions {
		t.Errorf("node %d's cache evicted nothing after its disk filled (%d evictions before, %d after): it no longer turns over", full, st.Evictions, after.Evictions)
	}
	if after.Store.Blocks < st.Store.Blocks {
		t.Errorf("node %d's store went from %d to %d blocks on the full disk", full, st.Store.Blocks, after.Store.Blocks)
	}
	if !reportsDiskFull(after) {
		t.Errorf("node %d no longer reports its full disk, which is still full", full)
	}
	t.Logf("after the disk filled, node %d routed %d requests of its peers (%d found), ended %d tunnels' requests, relayed %d tunnel cells, and its cache evicted %d blocks; %d files fetched twice",
		full, after.Routing.Requests-before.Requests, after.Routing.Found-before.Found, after.Routing.TunnelEnds-before.TunnelEnds,
		after.Routing.TunnelCells-before.TunnelCells, after.Evictions-st.Evictions, len(files))

	// Stopped, its store passes its check on the still-full disk and holds what it had.
	if err := tn.Close(); err != nil {
		t.Fatalf("stop the network: %v", err)
	}
	s, err := datastore.Open(filepath.Join(dir, "store.db"), datastore.Options{StoreBytes: storeBytes, CacheBytes: cacheBytes})
	if err != nil {
		t.Fatalf("the store on the full disk does not open again: %v", err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Fatalf("the store on the full disk fails its check: %v", err)
	}
	if got := s.Stats(); got.Store.Blocks < after.Store.Blocks {
		t.Errorf("the store holds %d blocks after the stop, the node had acknowledged %d", got.Store.Blocks, after.Store.Blocks)
	}
	if err := s.Close(); err != nil && !errors.Is(err, datastore.ErrClosed) {
		t.Error(err)
	}
}
