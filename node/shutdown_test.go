package node

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/datastore"
	"lethe/fcp"
)

// startInsert starts inserting size bytes at n through FCP and returns once the node is
// working on it; the result arrives on the channel.
func startInsert(t *testing.T, n *Node, size int) <-chan error {
	t.Helper()
	c := dialFCP(t, n)
	data := randomBytes(size, 3)
	done := make(chan error, 1)
	go func() {
		_, err := c.Put(context.Background(), fcp.PutRequest{URI: crypto.InsertURI{Type: crypto.CHK}, Data: bytes.NewReader(data), DataLength: int64(len(data))}, nil)
		done <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if ins, _ := n.backend.running(); ins > 0 {
			return done
		}
		if time.Now().After(deadline) {
			t.Fatal("the insert did not start")
		}
		time.Sleep(time.Millisecond)
	}
}

// checkStore opens a stopped node's store and checks it is whole.
func checkStore(t *testing.T, n *Node) {
	t.Helper()
	s, err := datastore.Open(filepath.Join(n.Dir(), storeFile), datastore.Options{})
	if err != nil {
		t.Fatalf("reopen the store: %v", err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Errorf("store after shutdown: %v", err)
	}
}

// TestShutdownLetsInsertsFinish: a node told to stop while an insert runs takes no new
// request, lets the insert finish and report success, and closes its store cleanly.
func TestShutdownLetsInsertsFinish(t *testing.T) {
	tn := startTestnet(t, 4, func(i int, c *Config) { c.DrainTimeout = time.Minute })
	n := tn.Nodes[0]
	done := startInsert(t, n, 2<<20)
	closed := make(chan error, 1)
	go func() { closed <- n.Close() }()
	if err := <-done; err != nil {
		t.Errorf("the insert in progress failed at shutdown: %v", err)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	checkStore(t, n)
}

// TestShutdownReportsUnfinishedInserts: an insert still running when the drain time is over
// is cancelled, and its client is told it failed.
func TestShutdownReportsUnfinishedInserts(t *testing.T) {
	tn := startTestnet(t, 4, func(i int, c *Config) { c.DrainTimeout = 50 * time.Millisecond })
	n := tn.Nodes[0]
	done := startInsert(t, n, 32<<20)
	start := time.Now()
	if err := n.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	err := <-done
	if !errors.Is(err, fcp.ErrCancelled) {
		t.Errorf("the client of the cancelled insert got %v, want PutFailed with ErrCancelled", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stopping took %v", d)
	}
	checkStore(t, n)
}
