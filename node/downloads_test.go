package node

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/fcp"
)

// keptBlocks counts the blocks a node keeps for resuming fetches: the records of the block
// logs of its download directories, each a CHK block sealed with a nonce and a tag.
func keptBlocks(t *testing.T, n *Node) int {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(n.Dir(), downloadsDir, "*", "blocks"))
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	for _, l := range logs {
		if info, err := os.Stat(l); err == nil {
			size += info.Size()
		}
	}
	return int(size / (crypto.CHKBlockSize + 12 + 16))
}

// TestFetchResumes: a fetch cut off part-way leaves the blocks it verified with the node, and
// the next fetch of the same URI takes them from there, asking the network only for the rest;
// once the content is whole, the kept blocks are gone.
func TestFetchResumes(t *testing.T) {
	tn := startTestnet(t, 4, nil)
	data := randomBytes(6<<20, 11)
	uri := put(t, dialFCP(t, tn.Nodes[0]), data, "resume.bin")
	at := tn.Nodes[tn.Farthest(0)]

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cut, stop := context.WithCancel(ctx)
	var buf bytes.Buffer
	_, err := dialFCP(t, at).Get(cut, fcp.GetRequest{URI: uri, MaxSize: 1 << 30}, &buf, func(p fcp.Progress) {
		if p.Succeeded >= 60 {
			stop()
		}
	})
	if err == nil {
		t.Fatal("the fetch was not cut off")
	}
	deadline := time.Now().Add(30 * time.Second)
	for at.Status().Fetches > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	kept := keptBlocks(t, at)
	if kept < 60 {
		t.Fatalf("after a fetch cut off at 60 blocks the node keeps %d", kept)
	}

	before := at.Status().Routing.LocalRequests
	got, _ := get(t, dialFCP(t, at), uri)
	if !bytes.Equal(got, data) {
		t.Fatal("the resumed fetch did not give the content whole")
	}
	asked := at.Status().Routing.LocalRequests - before
	var all int
	if entries, err := os.ReadDir(filepath.Join(at.Dir(), downloadsDir)); err == nil {
		all = len(entries)
	}
	if all != 0 || keptBlocks(t, at) != 0 {
		t.Errorf("after the content was whole the node still keeps %d download directories", all)
	}
	// 6 MiB is 192 data blocks (and a top block); those kept were not asked for again.
	if asked > uint64(193-kept+8) {
		t.Errorf("the resumed fetch asked the network for %d blocks; %d of the 193 were kept", asked, kept)
	}
	t.Logf("cut off with %d blocks kept; the resumed fetch asked the network for %d", kept, asked)
}
