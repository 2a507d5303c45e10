package node

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/fcp"
)

// putSite inserts files as a site under target through c.
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

func TestTestnetSiteEditions(t *testing.T) {
	tn := startTestnet(t, 12, nil)
	c0 := dialFCP(t, tn.Nodes[0])
	ctx := context.Background()
	insertKey, _, err := c0.GenerateSSK(ctx)
	if err != nil {
		t.Fatal(err)
	}
	site := insertKey
	site.Type, site.Site, site.Edition = crypto.USK, "blog", 0
	v0 := putSite(t, c0, site, map[string]string{"index.html": "<p>edition zero</p>", "about.html": "<p>about</p>"})
	if v0.Edition != 0 {
		t.Fatalf("first insert went to edition %d", v0.Edition)
	}
	// The same insert key at edition 0 again, with other content: the slot is taken, so the
	// insert moves on to edition 1.
	v1 := putSite(t, c0, site, map[string]string{"index.html": "<p>edition one</p>", "about.html": "<p>about</p>"})
	if v1.Edition != 1 {
		t.Errorf("update went to edition %d, want 1", v1.Edition)
	}
	far := tn.Nodes[tn.Farthest(0)]
	got, _ := get(t, dialFCP(t, far), v0.WithPath("/index.html"))
	if string(got) != "<p>edition one</p>" {
		t.Errorf("edition 0's URI at the far node gave %q, want the newest edition's page", got)
	}
}
