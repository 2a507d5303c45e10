package tunnel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// testNet is a network of nodes' tunnels linked in memory. Every message is encoded and
// decoded as on a real link, and may be watched or altered in flight (tap). Each node handles
// what it receives on one goroutine, as a transport's event loop does.
type testNet struct {
	tb    testing.TB
	nodes []*testNode
	wg    sync.WaitGroup

	mu     sync.Mutex
	links  map[[2]int]bool                         // guarded by mu
	blocks map[crypto.RoutingKey][]byte            // what the network holds; guarded by mu
	served []served                                // what ends fetched or inserted; guarded by mu
	tap    func(from, to int, b []byte) []byte     // nil to drop; guarded by mu
	closed bool                                    // guarded by mu
	errs   []error                                 // protocol errors Receive reported; guarded by mu
	onEnd  func(n *testNode, rk crypto.RoutingKey) // called as an end starts serving; guarded by mu
	busy   map[int]bool                            // nodes whose end answers overloaded; guarded by mu
	stuck  map[int]bool                            // nodes whose end never answers a request; guarded by mu
}

type testNode struct {
	net   *testNet
	idx   int
	ident *crypto.NodeIdentity
	id    crypto.NodeID
	tu    *Tunnels
	inbox chan delivery
}

// delivery is a message from a peer, or (b nil) a link to it coming up or going down, in
// the order a transport delivers them: a peer's messages come after its PeerUp.
type delivery struct {
	from crypto.NodeID
	b    []byte
	up   bool
}

// served is one request or insert an end handled.
type served struct {
	node   int
	key    crypto.RoutingKey
	insert bool
}

func newTestNet(tb testing.TB, n int) *testNet {
	tb.Helper()
	before := runtime.NumGoroutine()
	tn := &testNet{tb: tb, links: map[[2]int]bool{}, blocks: map[crypto.RoutingKey][]byte{}}
	for i := range n {
		var seed [32]byte
		binary.BigEndian.PutUint64(seed[:], uint64(i))
		seed = sha256.Sum256(append(seed[:], "tunnel test node"...))
		nd := &testNode{net: tn, idx: i, ident: crypto.NewNodeIdentity(seed), inbox: make(chan delivery, 4096)}
		nd.id = nd.ident.ID()
		nd.tu = New(Config{Identity: nd.ident, Seed: &seed, End: testEnd{nd},
			Send: func(to crypto.NodeID, m wire.Message) error { return tn.send(nd, to, m) }})
		tn.nodes = append(tn.nodes, nd)
	}
	for _, nd := range tn.nodes {
		tn.wg.Add(1)
		go func() {
			defer tn.wg.Done()
			for d := range nd.inbox {
				if d.b == nil {
					if d.up {
						nd.tu.PeerUp(d.from)
					} else {
						nd.tu.PeerDown(d.from)
					}
					continue
				}
				m, err := wire.Decode(d.b)
				if err == nil {
					err = nd.tu.Receive(d.from, m)
				}
				if err != nil {
					tn.mu.Lock()
					tn.errs = append(tn.errs, err)
					tn.mu.Unlock()
				}
			}
		}()
	}
	tb.Cleanup(func() {
		for _, nd := range tn.nodes {
			nd.tu.Close()
		}
		tn.mu.Lock()
		tn.closed = true
		tn.mu.Unlock()
		for _, nd := range tn.nodes {
			close(nd.inbox)
		}
		tn.wg.Wait()
		for _, err := range tn.errs {
			tb.Errorf("a node reported a protocol violation: %v", err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if runtime.NumGoroutine() > before {
			buf := make([]byte, 1<<16)
			tb.Errorf("%d goroutines left running (%d before):\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
	})
	return tn
}

func (tn *testNet) index(id crypto.NodeID) int {
	for _, nd := range tn.nodes {
		if nd.id == id {
			return nd.idx
		}
	}
	return -1
}

func pair(a, b int) [2]int { return [2]int{min(a, b), max(a, b)} }

func (tn *testNet) send(from *testNode, to crypto.NodeID, m wire.Message) error {
	b, err := wire.Encode(m)
	if err != nil {
		tn.tb.Errorf("node %d sent a message that does not encode: %v", from.idx, err)
		return err
	}
	j := tn.index(to)
	tn.mu.Lock()
	defer tn.mu.Unlock()
	if tn.closed || j < 0 || !tn.links[pair(from.idx, j)] {
		return errors.New("not linked")
	}
	if tn.tap != nil {
		if b = tn.tap(from.idx, j, b); b == nil {
			return nil
		}
	}
	select {
	case tn.nodes[j].inbox <- delivery{from: from.id, b: b}:
		return nil
	default:
		return errors.New("queue full")
	}
}

// link joins two nodes, as a transport's PeerUp on both sides.
func (tn *testNet) link(a, b int) { tn.linkEvent(a, b, true) }

// unlink cuts a link, as a transport's PeerDown on both sides.
func (tn *testNet) unlink(a, b int) { tn.linkEvent(a, b, false) }

func (tn *testNet) linkEvent(a, b int, up bool) {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	if up {
		tn.links[pair(a, b)] = true
	} else {
		delete(tn.links, pair(a, b))
	}
	tn.nodes[a].inbox <- delivery{from: tn.nodes[b].id, up: up}
	tn.nodes[b].inbox <- delivery{from: tn.nodes[a].id, up: up}
}

func (tn *testNet) linked(a, b int) bool {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return tn.links[pair(a, b)]
}

// randomGraph links every node to degree others at random (a few more where picks collide),
// and waits for the tunnel keys to arrive.
func (tn *testNet) randomGraph(degree int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 9))
	n := len(tn.nodes)
	for a := range n {
		for range degree / 2 {
			b := rng.IntN(n)
			if b != a && !tn.linked(a, b) {
				tn.link(a, b)
			}
		}
	}
	tn.settle()
}

// settle waits until every node holds every peer's attestation.
func (tn *testNet) settle() {
	deadline := time.Now().Add(time.Minute) // generous: a loaded machine under -race is slow
	for time.Now().Before(deadline) {
		ok := true
		for _, nd := range tn.nodes {
			for _, o := range tn.nodes {
				if nd != o && tn.linked(nd.idx, o.idx) && nd.tu.attestation(o.id) == nil {
					ok = false
				}
			}
		}
		if ok {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	tn.tb.Fatal("tunnel keys did not arrive")
}

// testEnd is a node's End: the network's blocks are fetched from a table, and what each end
// served is recorded.
type testEnd struct{ nd *testNode }

func (e testEnd) Fetch(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey) ([]byte, error) {
	tn := e.nd.net
	tn.mu.Lock()
	tn.served = append(tn.served, served{node: e.nd.idx, key: rk})
	b, ok := tn.blocks[rk]
	hook := tn.onEnd
	busy, stuck := tn.busy[e.nd.idx], tn.stuck[e.nd.idx]
	tn.mu.Unlock()
	if hook != nil {
		hook(e.nd, rk)
	}
	if stuck {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if busy {
		return nil, wire.ErrOverloaded
	}
	if !ok {
		return nil, wire.ErrDataNotFound
	}
	return b, nil
}

func (e testEnd) Insert(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	tn := e.nd.net
	tn.mu.Lock()
	defer tn.mu.Unlock()
	tn.served = append(tn.served, served{node: e.nd.idx, key: rk, insert: true})
	if old, ok := tn.blocks[rk]; ok && !bytes.Equal(old, block) {
		return &wire.CollisionError{Existing: old}
	}
	tn.blocks[rk] = bytes.Clone(block)
	return nil
}

// newBlock puts a fresh CHK block in the network and returns its key.
func (tn *testNet) newBlock(i int) (crypto.RoutingKey, []byte) {
	block, key, err := crypto.EncodeCHKConvergent([]byte{byte(i), byte(i >> 8), 'b'})
	if err != nil {
		tn.tb.Fatal(err)
	}
	tn.mu.Lock()
	tn.blocks[key.Routing] = block
	tn.mu.Unlock()
	return key.Routing, block
}

func (tn *testNet) servedBy(rk crypto.RoutingKey) []int {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	var out []int
	for _, s := range tn.served {
		if s.key == rk {
			out = append(out, s.node)
		}
	}
	return out
}

// traceTunnels records the tunnels a node built, by their hops.
func traceTunnels(nd *testNode) func() [][]crypto.NodeID {
	var mu sync.Mutex
	var built [][]crypto.NodeID
	nd.tu.cfg.Trace = func(e Event) {
		if e.Kind == EventBuilt {
			mu.Lock()
			built = append(built, slices.Clone(e.Hops))
			mu.Unlock()
		}
	}
	return func() [][]crypto.NodeID {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(built)
	}
}

func testCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds, or fails the test after a while.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
