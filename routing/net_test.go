package routing

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"testing"
	"testing/synctest"

	"lethe/crypto"
	"lethe/routing/internal/tuning"
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
		cfg := Config{Store: n.store, Location: loc, Seed: &seed, Ref: func() *wire.NodeRef { return n.ref },
			Tuning: &tuning.Options{LocationUpdateDelay: -1}}
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

// rawPeer is a scripted peer on a testNet: it sends exactly the messages a test chooses and
// records what it receives.
type rawPeer struct {
	ref *wire.NodeRef
	t   *transport.MemNode
	got chan received
	// answer, if set, is called for every message received and may reply.
	answer func(p *rawPeer, from crypto.NodeID, m wire.Message)
}

type received struct {
	from crypto.NodeID
	m    wire.Message
}

func (p *rawPeer) PeerUp(transport.Peer)         {}
func (p *rawPeer) PeerDown(crypto.NodeID, error) {}
func (p *rawPeer) id() crypto.NodeID             { return p.ref.ID() }
func (p *rawPeer) Receive(from crypto.NodeID, m wire.Message) {
	if p.answer != nil {
		p.answer(p, from, m)
	}
	select {
	case p.got <- received{from, m}:
	default:
	}
}

// send sends m to node n.
func (p *rawPeer) send(tb testing.TB, n *testNode, m wire.Message) {
	tb.Helper()
	if err := p.t.Send(context.Background(), n.id(), m); err != nil {
		tb.Fatal(err)
	}
}

// next returns the next message received, skipping location updates, or fails the test if
// none comes before the bubble's goroutines are all blocked.
func (p *rawPeer) next(tb testing.TB) received {
	tb.Helper()
	for {
		settle()
		select {
		case r := <-p.got:
			if _, ok := r.m.(*wire.LocationUpdate); ok {
				continue
			}
			return r
		default:
			tb.Fatal("no message arrived")
			return received{}
		}
	}
}

// addRaw joins a scripted peer at location loc to the network, answering with answer (nil:
// it only records), and links it to the given nodes.
func (tn *testNet) addRaw(name string, loc crypto.Location, answer func(p *rawPeer, from crypto.NodeID, m wire.Message), linkTo ...int) *rawPeer {
	tn.tb.Helper()
	ident := crypto.NewNodeIdentity(sha256.Sum256([]byte("raw peer " + name)))
	ref, err := wire.NewNodeRef(ident, wire.NodeRefInfo{Location: loc, WithLocation: true})
	if err != nil {
		tn.tb.Fatal(err)
	}
	p := &rawPeer{ref: ref, got: make(chan received, 1024), answer: answer}
	if p.t, err = tn.net.Join(transport.MemConfig{Ref: ref, Handler: p}); err != nil {
		tn.tb.Fatal(err)
	}
	tn.tb.Cleanup(func() { p.t.Close() })
	for _, i := range linkTo {
		if err := p.t.Connect(context.Background(), tn.nodes[i].ref); err != nil {
			tn.tb.Fatal(err)
		}
	}
	return p
}
