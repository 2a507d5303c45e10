package node

import (
	"bytes"
	"testing"
	"time"
)

func TestTestnetInsertFetch(t *testing.T) {
	tn := startTestnet(t, 12, nil)
	far := tn.Farthest(0)
	data := randomBytes(1<<20, 1)
	start := time.Now()
	uri := put(t, dialFCP(t, tn.Nodes[0]), data, "file.bin")
	t.Logf("insert of %d bytes at node 0: %v", len(data), time.Since(start))
	start = time.Now()
	got, found := get(t, dialFCP(t, tn.Nodes[far]), uri)
	t.Logf("fetch at node %d (%d links away): %v", far, tn.Hops(0)[far], time.Since(start))
	if !bytes.Equal(got, data) {
		t.Fatalf("fetched %d bytes that differ from the %d inserted", len(got), len(data))
	}
	if found.DataLength != int64(len(data)) {
		t.Errorf("DataLength %d, want %d", found.DataLength, len(data))
	}
}
