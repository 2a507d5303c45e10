package tests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/fcp"
)

// TestTestnetEndToEnd is the whole system over real loopback links: a 12-node test network;
// a file inserted at one node through the client protocol and fetched, byte for byte, at the
// node farthest from it; a site inserted under a USK, updated to edition 1, and its newest
// edition found from another node.
func TestTestnetEndToEnd(t *testing.T) {
	size := 20 << 20
	if raceEnabled && !long() {
		size = 4 << 20 // the race detector makes every hop several times slower
	}
	tn, ready := startTestnet(t, 12, nil)
	t.Logf("12 nodes linked in %v", ready.Round(time.Millisecond))
	if ready > 10*time.Second && !raceEnabled {
		t.Errorf("the test network took %v to start, more than 10 s", ready)
	}

	far := tn.Farthest(0)
	data := randomBytes(size, 7)
	start := time.Now()
	uri := putFile(t, client(t, tn.Nodes[0]), data, "payload.bin")
	t.Logf("inserted %d MiB at node 0 in %v", size>>20, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	h := sha256.New()
	var n countWriter
	found := getFile(t, client(t, tn.Nodes[far]), uri, io.MultiWriter(h, &n))
	t.Logf("fetched at node %d, %d links away, in %v", far, tn.Hops(0)[far], time.Since(start).Round(time.Millisecond))
	if want := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), want[:]) || int(n) != size {
		t.Fatalf("node %d fetched %d bytes that differ from the %d inserted", far, n, size)
	}
	if found.DataLength != int64(size) {
		t.Errorf("DataLength %d, want %d", found.DataLength, size)
	}

	// A site under a USK, then edition 1; the node farthest from the publisher asks for
	// edition 0 and is sent on to the newest.
	ctx := context.Background()
	publisher, reader := tn.Nodes[3], tn.Nodes[tn.Farthest(3)]
	pc := client(t, publisher)
	key, _, err := pc.GenerateSSK(ctx)
	if err != nil {
		t.Fatal(err)
	}
	site := key
	site.Type, site.Site = crypto.USK, "journal"
	for edition, text := range []string{"<h1>first words</h1>", "<h1>second thoughts</h1>"} {
		site.Edition = int64(edition)
		got := putSite(t, pc, site, map[string]string{"index.html": text, "style.css": "h1 { color: teal }"})
		if got.Edition != int64(edition) {
			t.Fatalf("edition %d was inserted as %v", edition, got)
		}
	}
	req, _ := site.WithEdition(0).RequestURI()
	var page bytes.Buffer
	getFile(t, client(t, reader), req.WithPath("/index.html"), &page)
	if page.String() != "<h1>second thoughts</h1>" {
		t.Errorf("edition 0's URI at node %d gave %q, want edition 1's page", tn.Farthest(3), page.String())
	}
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

func putSite(tb testing.TB, c *fcp.Client, target crypto.InsertURI, files map[string]string) crypto.RequestURI {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req := fcp.PutDirRequest{URI: target, DefaultName: "index.html"}
	for name, body := range files {
		req.Entries = append(req.Entries, fcp.DirEntry{Name: name, Data: io.NewSectionReader(bytes.NewReader([]byte(body)), 0, int64(len(body)))})
	}
	uri, err := c.PutDir(ctx, req, nil)
	if err != nil {
		tb.Fatalf("insert site %v: %v", target, err)
	}
	return uri
}
