package node

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/fcp"
	"lethe/insert"
)

// blockLogs lists the block logs in a node's uploads directory.
func blockLogs(t *testing.T, n *Node) []string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(n.Dir(), uploadsDir, "*"+blockLogExt))
	if err != nil {
		t.Fatal(err)
	}
	return logs
}

// TestInsertKeyBeforeUpload: an insert's URI reaches the client before the upload is done
// (URIGenerated, then progress of the upload, then PutSuccessful), the upload's block log is
// gone once the network holds the content, and the content fetches whole at the node
// farthest away.
func TestInsertKeyBeforeUpload(t *testing.T) {
	tn := startTestnet(t, 4, nil)
	n := tn.Nodes[0]
	data := randomBytes(2<<20, 7)
	var (
		mu        sync.Mutex
		events    []string
		uriFirst  bool // the URI came before a report of an upload not yet done
		generated crypto.RequestURI
	)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	uri, err := dialFCP(t, n).Put(ctx, fcp.PutRequest{URI: crypto.InsertURI{Type: crypto.CHK}, Data: bytes.NewReader(data), DataLength: int64(len(data))}, func(p fcp.Progress) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case p.URI.Type != 0:
			generated = p.URI
			events = append(events, "URIGenerated")
		case p.Total > 0:
			if generated.Type != 0 && p.Succeeded < p.Total {
				uriFirst = true
			}
			events = append(events, "SimpleProgress")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if !uriFirst || generated != uri {
		t.Errorf("the URI did not come before the upload was done (URI %v, then %v; messages %v)", generated, uri, events)
	}
	mu.Unlock()
	if logs := blockLogs(t, n); len(logs) != 0 {
		t.Errorf("block logs left after the upload: %v", logs)
	}
	if got, _ := get(t, dialFCP(t, tn.Nodes[tn.Farthest(0)]), uri); !bytes.Equal(got, data) {
		t.Error("the content did not come back whole")
	}
}

// TestUploadResumesAfterRestart: a node stopped while it uploads keeps the block log with how
// far the upload got, and when it starts again it finishes the upload by itself, from there;
// the content then fetches whole elsewhere.
func TestUploadResumesAfterRestart(t *testing.T) {
	tn := startTestnet(t, 4, func(i int, c *Config) { c.DrainTimeout = 50 * time.Millisecond })
	n := tn.Nodes[0]
	data := randomBytes(24<<20, 8)
	got := make(chan crypto.RequestURI, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := dialFCP(t, n)
	go c.Put(ctx, fcp.PutRequest{URI: crypto.InsertURI{Type: crypto.CHK}, Data: bytes.NewReader(data), DataLength: int64(len(data))}, func(p fcp.Progress) {
		if p.URI.Type != 0 {
			got <- p.URI
		}
	})
	var uri crypto.RequestURI
	select {
	case uri = <-got:
	case <-ctx.Done():
		t.Fatal("no URI")
	}
	// Let the upload get some way, then stop the node in the middle of it.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st := n.Status()
		if len(st.Uploads) == 1 && st.Uploads[0].Uploaded >= 2*64 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the upload did not get under way: %+v", st.Uploads)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	logs := blockLogs(t, n)
	if len(logs) != 1 {
		t.Fatalf("after stopping mid-upload the node keeps %d block logs, want 1", len(logs))
	}
	log, err := insert.OpenBlockLog(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	mark, total := log.Blocks()
	log.Close()
	if mark == 0 || mark >= total {
		t.Fatalf("the kept log marks %d of %d blocks uploaded", mark, total)
	}

	restarted, err := New(n.cfg)
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- restarted.Run(context.Background()) }()
	t.Cleanup(func() {
		restarted.Close()
		<-runDone
	})
	<-restarted.Ready()
	if st := restarted.Status(); len(st.Uploads) != 1 || st.Uploads[0].Uploaded < mark {
		t.Errorf("the restarted node's uploads %+v, want one resumed from %d", st.Uploads, mark)
	}
	for len(blockLogs(t, restarted)) > 0 {
		if time.Now().After(deadline.Add(3 * time.Minute)) {
			t.Fatalf("the resumed upload did not finish: %+v", restarted.Status().Uploads)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got, _ := get(t, dialFCP(t, tn.Nodes[tn.Farthest(0)]), uri); !bytes.Equal(got, data) {
		t.Error("the content did not come back whole after the resumed upload")
	}
}
