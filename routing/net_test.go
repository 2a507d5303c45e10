package routing

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"testing"
	"testing/synctest"

	"lethe/crypto"
	"lethe/transport"
	"lethe/wire"
)

// testNode is one router on an in-memory network, with its store.
type testNode struct {
	r     *Router
	t     *transport.MemNode
	store *MemStore
	ref   *wire.NodeRef
	loc   crypto.Location
}

func (n *testNode) id() crypto.NodeID { return n.ref.ID() }

// testNet is a network of routers over transport.MemNetwork. Build it inside a synctest
// bubble: then settle waits until every message in flight has been handled.
type testNet struct {
	tb    testing.TB
	net   *transport.MemNetwork
	nodes []*testNode
}

// newTestNet makes n routers at the given locations (nil: spread evenly), each with a store of
// 100 blocks and a cache of 100. edit adjusts each router's Config.
func newTestNet(tb testing.TB, locs []crypto.Location, edit func(i int, c *Config)) *testNet {
	tb.Helper()
	tn := &testNet{tb: tb, net: transport.NewMemNetwork()}
	for i, loc := range locs {
		ident := crypto.NewNodeIdentity(sha256.Sum256([]byte(fmt.Sprintf("test node %d", i))))
		ref, err := wire.NewNodeRef(ident, wire.NodeRefInfo{})
		if err != nil {
			tb.Fatal(err)
		}
		seed := sha256.Sum256([]byte(fmt.Sprintf("test seed %d", i)))
		n := &testNode{ref: ref, loc: loc, store: NewMemStore(loc, 100, 100)}
		cfg := Config{Store: n.store, Location: loc, Seed: &seed, Ref: func() *wire.NodeRef { return n.ref }, LocationUpdateDelay: -1}
		if edit != nil {
			edit(i, &cfg)
		}
		n.r = New(cfg)
		if cfg.Opennet {
			n.r.cfg.Connect = func(ctx context.Context, ref *wire.NodeRef) error { return n.t.Connect(ctx, ref) }
		}
		n.t, err = tn.net.Join(transport.MemConfig{Ref: ref, Handler: n.r})
		if err != nil {
			tb.Fatal(err)
		}
		n.r.Start(n.t)
		tn.nodes = append(tn.nodes, n)
	}
	tb.Cleanup(tn.close)
	return tn
}

// link connects node i to node j.
func (tn *testNet) link(i, j int) {
	tn.tb.Helper()
	if err := tn.nodes[i].t.Connect(context.Background(), tn.nodes[j].ref); err != nil {
		tn.tb.Fatal(err)
	}
}

// line links the nodes 0-1-2-…
func (tn *testNet) line() {
	for i := 0; i+1 < len(tn.nodes); i++ {
		tn.link(i, i+1)
	}
}

func (tn *testNet) close() {
	for _, n := range tn.nodes {
		n.r.Close()
		n.t.Close()
	}
}

// settle waits until every goroutine in the bubble is blocked: all messages delivered.
func settle() { synctest.Wait() }

// spread returns n locations spread evenly round the circle, starting at start.
func spread(n int, start float64) []crypto.Location {
	out := make([]crypto.Location, n)
	for i := range out {
		l := start + float64(i)/float64(n)
		for l >= 1 {
			l--
		}
		out[i] = crypto.Location(l)
	}
	return out
}

// chkBlock makes a CHK block whose routing key lies at (about) location want, by trying
// payloads until one lands within tolerance.
func chkBlock(tb testing.TB, want crypto.Location, tolerance float64) ([]byte, crypto.CHKKey) {
	tb.Helper()
	for i := 0; i < 1_000_000; i++ {
		block, key, err := crypto.EncodeCHKWithKey([]byte(fmt.Sprintf("payload %d", i)), sha256.Sum256([]byte("k")))
		if err != nil {
			tb.Fatal(err)
		}
		if key.Routing.Location().Distance(want) <= tolerance {
			return block, key
		}
	}
	tb.Fatalf("no CHK key found near %v", want)
	return nil, crypto.CHKKey{}
}

func randomCHK(tb testing.TB) ([]byte, crypto.CHKKey) {
	tb.Helper()
	block, key, err := crypto.EncodeCHK(rand.Reader, []byte("random block"))
	if err != nil {
		tb.Fatal(err)
	}
	return block, key
}
