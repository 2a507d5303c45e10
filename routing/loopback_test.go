package routing

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/transport"
	"lethe/wire"
)

// TestOverRealLinks runs a handful of routers over TCP and TLS on loopback: a block inserted
// at one node is fetched, verified, from each of the others.
func TestOverRealLinks(t *testing.T) {
	goroutines := runtime.NumGoroutine()
	const n = 5
	type realNode struct {
		r *Router
		t *transport.TCP
	}
	nodes := make([]*realNode, n)
	ctx, cancel := context.WithCancel(context.Background())
	var runs []chan error
	for i := range nodes {
		ident, err := crypto.GenerateNodeIdentity(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		loc := crypto.Location(float64(i)/n + 0.01)
		nd := &realNode{}
		nd.r = New(Config{
			Store:    NewMemStore(loc, 100, 100),
			Location: loc,
			MaxPeers: 4,
			Ref:      func() *wire.NodeRef { return nd.t.Ref() },
		})
		nd.t, err = transport.New(transport.Config{Identity: ident, ListenAddr: "127.0.0.1:0", Handler: nd.r})
		if err != nil {
			t.Fatal(err)
		}
		ref, err := wire.NewNodeRef(ident, wire.NodeRefInfo{Addresses: []string{nd.t.Addr()}, Location: loc, WithLocation: true})
		if err != nil {
			t.Fatal(err)
		}
		nd.t.SetRef(ref)
		nd.r.Start(nd.t)
		done := make(chan error, 1)
		go func() { done <- nd.t.Run(ctx) }()
		runs = append(runs, done)
		nodes[i] = nd
	}
	defer func() {
		for _, nd := range nodes {
			nd.r.Close()
		}
		cancel()
		for _, done := range runs {
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("transport: %v", err)
			}
		}
		for _, nd := range nodes {
			nd.t.Close()
		}
		// Every goroutine of the routers and links is gone.
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if g := runtime.NumGoroutine(); g > goroutines {
			t.Errorf("%d goroutines left running, %d before", g, goroutines)
		}
	}()
	// A ring, each node linked to the next.
	for i := range nodes {
		next := nodes[(i+1)%n]
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		err := nodes[i].t.Connect(cctx, next.t.Ref())
		ccancel()
		if err != nil {
			t.Fatalf("link %d→%d: %v", i, (i+1)%n, err)
		}
	}
	waitFor(t, func() bool {
		for _, nd := range nodes {
			known := 0
			for _, p := range nd.r.Peers() {
				if p.Location.Valid() {
					known++
				}
			}
			if known < 2 {
				return false
			}
		}
		return true
	})

	block, key, err := crypto.EncodeCHK(rand.Reader, []byte("over real links"))
	if err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].r.PutBlock(ctx, crypto.CHK, key.Routing, block); err != nil {
		t.Fatalf("PutBlock: %v", err)
	}
	for i := 1; i < n; i++ {
		got, err := nodes[i].r.GetBlock(ctx, crypto.CHK, key.Routing)
		if err != nil {
			t.Fatalf("GetBlock at node %d: %v", i, err)
		}
		if !bytes.Equal(got, block) {
			t.Fatalf("node %d got different bytes", i)
		}
	}
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(fmt.Errorf("timed out waiting"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
