package tunnel

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// TestFetchThroughTunnel: a node's request comes out three links away, at a node that is not
// its peer, and the block comes back; no byte of the key or the block crosses any link in the
// clear, and the hops before the end never serve anything.
func TestFetchThroughTunnel(t *testing.T) {
	tn := newTestNet(t, 40)
	tn.randomGraph(8, 1)
	var sawKey, sawBlock bool
	var mu sync.Mutex
	key, block := tn.newBlock(1)
	tn.mu.Lock()
	tn.tap = func(from, to int, b []byte) []byte {
		mu.Lock()
		sawKey = sawKey || bytes.Contains(b, key[:])
		sawBlock = sawBlock || bytes.Contains(b, block[100:164])
		mu.Unlock()
		return b
	}
	tn.mu.Unlock()
	o := tn.nodes[0]
	built := traceTunnels(o)
	got, err := o.tu.Get(testCtx(t), 7, crypto.CHK, key)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, block) {
		t.Fatal("the block that came back differs")
	}
	mu.Lock()
	if sawKey || sawBlock {
		t.Errorf("in the clear on a link: key %v, block %v", sawKey, sawBlock)
	}
	mu.Unlock()
	tunnels := built()
	if len(tunnels) != 1 || len(tunnels[0]) != tunnelLinks {
		t.Fatalf("built %v, want one tunnel of %d hops", tunnels, tunnelLinks)
	}
	hops := tunnels[0]
	end := tn.index(hops[2])
	if s := tn.servedBy(key); len(s) != 1 || s[0] != end {
		t.Errorf("served by %v, want only the end %d", s, end)
	}
	if !tn.linked(0, tn.index(hops[0])) {
		t.Error("the first hop is not a peer of the originator")
	}
	for i, h := range hops[1:] {
		if tn.linked(0, tn.index(h)) {
			t.Errorf("hop %d is a peer of the originator", i+2)
		}
		if !tn.linked(tn.index(hops[i]), tn.index(h)) {
			t.Errorf("hops %d and %d are not linked", i+1, i+2)
		}
	}
	if guards := o.tu.Guards(); len(guards) != 1 || guards[0] != hops[0] {
		t.Errorf("guards %v, want the tunnel's first hop", guards)
	}
}

// TestInsertThroughTunnel: an insert comes out at the tunnel's end under the block's own
// routing key; an SSK slot that holds another block answers with that block.
func TestInsertThroughTunnel(t *testing.T) {
	tn := newTestNet(t, 30)
	tn.randomGraph(8, 2)
	block, key, err := crypto.EncodeCHKConvergent([]byte("inserted"))
	if err != nil {
		t.Fatal(err)
	}
	if err := tn.nodes[3].tu.Put(testCtx(t), 1, crypto.CHK, block); err != nil {
		t.Fatal(err)
	}
	tn.mu.Lock()
	held := bytes.Equal(tn.blocks[key.Routing], block)
	tn.mu.Unlock()
	if !held || len(tn.servedBy(key.Routing)) != 1 {
		t.Fatalf("the insert did not come out once: held %v, served by %v", held, tn.servedBy(key.Routing))
	}

	priv := crypto.NewSSKPrivateKey(sha256Sum("ssk"))
	ik := crypto.SSKInsertKey{Private: priv, Crypto: sha256Sum("c"), DocName: "doc"}
	first, rk, err := ik.Encode([]byte("first"))
	if err != nil {
		t.Fatal(err)
	}
	second, _, _ := ik.Encode([]byte("second"))
	tn.mu.Lock()
	tn.blocks[rk] = first
	tn.mu.Unlock()
	err = tn.nodes[3].tu.Put(testCtx(t), 2, crypto.SSK, second)
	var coll *wire.CollisionError
	if !errors.As(err, &coll) || !bytes.Equal(coll.Existing, first) {
		t.Fatalf("collision: err %v, want the existing block", err)
	}
}

func sha256Sum(s string) [32]byte {
	var k [32]byte
	copy(k[:], s)
	return k
}

// TestOutcomes: what an end's search reports comes back as wire's outcome.
func TestOutcomes(t *testing.T) {
	tn := newTestNet(t, 30)
	tn.randomGraph(8, 3)
	var missing crypto.RoutingKey
	missing[0] = 7
	if _, err := tn.nodes[1].tu.Get(testCtx(t), 1, crypto.CHK, missing); !errors.Is(err, wire.ErrDataNotFound) {
		t.Errorf("missing block: err %v, want ErrDataNotFound", err)
	}
	key, _ := tn.newBlock(2)
	if _, err := tn.nodes[1].tu.Get(testCtx(t), 1, crypto.SSK, key); !errors.Is(err, wire.ErrDataNotFound) {
		t.Errorf("a CHK block for an SSK request: err %v, want ErrDataNotFound", err)
	}
}

// TestSessionsAndGuards: a session takes another tunnel, through another guard, every 64
// blocks, up to MaxTunnels; every tunnel starts at a guard, and later sessions reuse the same
// guards with fresh hops after them.
func TestSessionsAndGuards(t *testing.T) {
	tn := newTestNet(t, 60)
	tn.randomGraph(12, 4)
	o := tn.nodes[5]
	built := traceTunnels(o)
	ctx := testCtx(t)
	for i := range (DefaultMaxTunnels + 1) * blocksPerTunnel {
		key, _ := tn.newBlock(1000 + i)
		if _, err := o.tu.Get(ctx, 1, crypto.CHK, key); err != nil {
			t.Fatal(err)
		}
	}
	guards := o.tu.Guards()
	if len(guards) != DefaultMaxTunnels {
		t.Fatalf("%d guards after %d blocks, want %d", len(guards), (DefaultMaxTunnels+1)*blocksPerTunnel, DefaultMaxTunnels)
	}
	firstHops := map[crypto.NodeID]bool{}
	for _, hops := range built() {
		firstHops[hops[0]] = true
	}
	if len(firstHops) != DefaultMaxTunnels {
		t.Errorf("tunnels start at %d nodes, want the %d guards", len(firstHops), DefaultMaxTunnels)
	}
	for _, g := range guards {
		if !firstHops[g] {
			t.Errorf("guard %v started no tunnel", g.Short())
		}
	}
	for s := range uint64(5) {
		key, _ := tn.newBlock(int(9000 + s))
		if _, err := o.tu.Get(ctx, 100+s, crypto.CHK, key); err != nil {
			t.Fatal(err)
		}
	}
	all := built()
	ends := map[crypto.NodeID]bool{}
	for _, hops := range all[len(all)-5:] {
		if hops[0] != guards[0] {
			t.Errorf("a new session's tunnel starts at %v, not the first guard %v", hops[0].Short(), guards[0].Short())
		}
		ends[hops[len(hops)-1]] = true
	}
	if len(ends) < 2 {
		t.Error("five sessions' tunnels all end at one node: hops after the guard are not drawn afresh")
	}
}

// TestLinkLost: a link along a tunnel goes down; the tunnel is destroyed at every hop, and the
// next request builds another and succeeds.
func TestLinkLost(t *testing.T) {
	tn := newTestNet(t, 40)
	tn.randomGraph(10, 5)
	o := tn.nodes[0]
	built := traceTunnels(o)
	key, _ := tn.newBlock(1)
	if _, err := o.tu.Get(testCtx(t), 1, crypto.CHK, key); err != nil {
		t.Fatal(err)
	}
	hops := built()[0]
	tn.unlink(tn.index(hops[1]), tn.index(hops[2]))
	waitFor(t, "the tunnel's circuits to go", func() bool {
		for _, h := range hops {
			nd := tn.nodes[tn.index(h)]
			nd.tu.circuits.Lock()
			n := len(nd.tu.circuits.in)
			nd.tu.circuits.Unlock()
			if n != 0 {
				return false
			}
		}
		return true
	})
	key2, _ := tn.newBlock(2)
	if _, err := o.tu.Get(testCtx(t), 1, crypto.CHK, key2); err != nil {
		t.Fatalf("after the link was lost: %v", err)
	}
	if len(built()) != 2 {
		t.Errorf("%d tunnels built, want 2", len(built()))
	}
}

// TestTaggedCell: a hop that alters a cell (tagging it) makes it fail at the end, which
// destroys the tunnel; the request is sent again through a new tunnel and succeeds. A replayed
// cell is dropped and serves nothing twice.
func TestTaggedCell(t *testing.T) {
	tn := newTestNet(t, 40)
	tn.randomGraph(10, 6)
	o := tn.nodes[0]
	built := traceTunnels(o)
	warm, _ := tn.newBlock(1)
	if _, err := o.tu.Get(testCtx(t), 1, crypto.CHK, warm); err != nil {
		t.Fatal(err)
	}
	hops := built()[0]
	g, m := tn.index(hops[0]), tn.index(hops[1])
	var once sync.Once
	var replay []byte
	tn.mu.Lock()
	tn.tap = func(from, to int, b []byte) []byte {
		if from == g && to == m && wire.Type(b[0]) == wire.TypeTunnelCell {
			once.Do(func() {
				replay = bytes.Clone(b)
				b = bytes.Clone(b)
				b[len(b)-5] ^= 0x40
			})
		}
		return b
	}
	tn.mu.Unlock()
	key, block := tn.newBlock(2)
	got, err := o.tu.Get(testCtx(t), 1, crypto.CHK, key)
	if err != nil || !bytes.Equal(got, block) {
		t.Fatalf("after a tagged cell: %v", err)
	}
	if len(built()) != 2 {
		t.Errorf("%d tunnels built, want a second after the tagged one", len(built()))
	}
	if s := tn.servedBy(key); len(s) != 1 {
		t.Errorf("served %d times, want once (through the new tunnel)", len(s))
	}

	// Replay the untagged copy into the live tunnel's first relay: dropped.
	hops = built()[1]
	before := len(tn.servedBy(key))
	tn.mu.Lock()
	tn.tap = nil
	tn.mu.Unlock()
	if tn.index(hops[0]) == g && tn.index(hops[1]) == m && replay != nil {
		tn.nodes[m].inbox <- delivery{from: tn.nodes[g].id, b: replay}
	}
	key3, _ := tn.newBlock(3)
	if _, err := o.tu.Get(testCtx(t), 1, crypto.CHK, key3); err != nil {
		t.Fatal(err)
	}
	if len(tn.servedBy(key)) != before {
		t.Error("a replayed cell was served")
	}
}

// TestReplayedCell: a cell sent twice on one circuit is relayed and served once.
func TestReplayedCell(t *testing.T) {
	tn := newTestNet(t, 30)
	tn.randomGraph(8, 7)
	o := tn.nodes[2]
	warm, _ := tn.newBlock(1)
	if _, err := o.tu.Get(testCtx(t), 1, crypto.CHK, warm); err != nil {
		t.Fatal(err)
	}
	tn.mu.Lock()
	tn.tap = func(from, to int, b []byte) []byte {
		if from == o.idx && wire.Type(b[0]) == wire.TypeTunnelCell {
			select {
			case tn.nodes[to].inbox <- delivery{from: o.id, b: bytes.Clone(b)}: // the copy arrives first
			default:
			}
		}
		return b
	}
	tn.mu.Unlock()
	key, _ := tn.newBlock(2)
	if _, err := o.tu.Get(testCtx(t), 1, crypto.CHK, key); err != nil {
		t.Fatal(err)
	}
	if s := tn.servedBy(key); len(s) != 1 {
		t.Errorf("served %d times, want once", len(s))
	}
}

// TestCircuitLimits: a peer may hold at most maxCircuitsPerPeer circuits at a node; past it
// TunnelCreate is refused before any key exchange.
func TestCircuitLimits(t *testing.T) {
	tn := newTestNet(t, 2)
	tn.link(0, 1)
	tn.settle()
	a, b := tn.nodes[0], tn.nodes[1]
	att := a.tu.attestation(b.id)
	var refused sync.WaitGroup
	refused.Add(1)
	var refusedOnce sync.Once
	tn.mu.Lock()
	tn.tap = func(from, to int, msg []byte) []byte {
		if from == 1 && wire.Type(msg[0]) == wire.TypeTunnelDestroy {
			refusedOnce.Do(refused.Done)
		}
		return msg
	}
	tn.mu.Unlock()
	for i := range maxCircuitsPerPeer + 1 {
		enc, _, err := crypto.EncapsulateTunnelHop(att.Key)
		if err != nil {
			t.Fatal(err)
		}
		tn.send(a, b.id, &wire.TunnelCreate{Circuit: uint64(i + 1), Seq: 1, Enc: enc})
	}
	refused.Wait()
	waitFor(t, "the admitted circuits", func() bool {
		b.tu.circuits.Lock()
		defer b.tu.circuits.Unlock()
		return len(b.tu.circuits.in) == maxCircuitsPerPeer
	})
}

// TestGuardThatRefusesExtends: a guard that drops every Extend, hoping the originator tries
// until it picks a colluder, is replaced once most builds through it fail.
func TestGuardThatRefusesExtends(t *testing.T) {
	tn := newTestNet(t, 40)
	tn.randomGraph(10, 8)
	o := tn.nodes[0]
	o.tu.cfg.StepTimeout = 200e6 // 200 ms: the dropped Extends time out quickly
	key, _ := tn.newBlock(1)
	if _, err := o.tu.Get(testCtx(t), 1, crypto.CHK, key); err != nil {
		t.Fatal(err)
	}
	bad := tn.index(o.tu.Guards()[0])
	tn.mu.Lock()
	tn.tap = func(from, to int, b []byte) []byte {
		if from == bad && to != o.idx && wire.Type(b[0]) == wire.TypeTunnelCreate {
			return nil
		}
		return b
	}
	tn.mu.Unlock()
	for i := range 4 {
		key, _ := tn.newBlock(10 + i)
		o.tu.Get(testCtx(t), uint64(10+i), crypto.CHK, key)
		if g := o.tu.Guards(); len(g) > 0 && tn.index(g[0]) != bad {
			return
		}
	}
	t.Errorf("the guard that drops extends is still the guard: %v", o.tu.Guards())
}

// TestSmallNetwork: in a network of three nodes in a line the tunnel is as long as the
// network allows, and works.
func TestSmallNetwork(t *testing.T) {
	tn := newTestNet(t, 3)
	tn.link(0, 1)
	tn.link(1, 2)
	tn.settle()
	built := traceTunnels(tn.nodes[0])
	key, block := tn.newBlock(1)
	got, err := tn.nodes[0].tu.Get(testCtx(t), 1, crypto.CHK, key)
	if err != nil || !bytes.Equal(got, block) {
		t.Fatalf("Get: %v", err)
	}
	if hops := built()[0]; len(hops) != 2 || tn.index(hops[1]) != 2 {
		t.Errorf("hops %v, want 1 then 2", hops)
	}
	if s := tn.servedBy(key); !slices.Equal(s, []int{2}) {
		t.Errorf("served by %v, want node 2", s)
	}
}

// TestTunnelWindow: an originator never has more requests in flight through one tunnel than
// its end takes (maxEndInFlight); those beyond wait their turn instead of being refused.
func TestTunnelWindow(t *testing.T) {
	tn := newTestNet(t, 30)
	tn.randomGraph(8, 9)
	o := tn.nodes[0]
	o.tu.cfg.MaxTunnels = 1
	release := make(chan struct{})
	var mu sync.Mutex
	inEnd, most := 0, 0
	tn.mu.Lock()
	tn.onEnd = func(n *testNode, rk crypto.RoutingKey) {
		mu.Lock()
		inEnd++
		most = max(most, inEnd)
		mu.Unlock()
		<-release
		mu.Lock()
		inEnd--
		mu.Unlock()
	}
	tn.mu.Unlock()
	const n = 2*maxEndInFlight + 10
	keys := make([]crypto.RoutingKey, n)
	for i := range keys {
		keys[i], _ = tn.newBlock(100 + i)
	}
	errs := make(chan error, n)
	ctx := testCtx(t)
	for _, k := range keys {
		go func() {
			_, err := o.tu.Get(ctx, 1, crypto.CHK, k)
			errs <- err
		}()
	}
	waitFor(t, "the end to be full", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return inEnd == maxEndInFlight
	})
	close(release)
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("a request failed: %v", err)
		}
	}
	if most > maxEndInFlight {
		t.Errorf("%d requests at the end at once, at most %d allowed", most, maxEndInFlight)
	}
}

// TestColludingGuardList: a guard that shows only some of its peers (ShowPeers, as the
// simulator's active colluders do) gets its tunnels' middles among those it shows, while the
// list is long enough to be taken.
func TestColludingGuardList(t *testing.T) {
	tn := newTestNet(t, 40)
	tn.randomGraph(16, 10)
	o := tn.nodes[0]
	key, _ := tn.newBlock(1)
	built := traceTunnels(o)
	if _, err := o.tu.Get(testCtx(t), 1, crypto.CHK, key); err != nil {
		t.Fatal(err)
	}
	g := tn.nodes[tn.index(built()[0][0])]
	shown := map[crypto.NodeID]bool{}
	g.tu.cfg.ShowPeers = func(list []*crypto.TunnelAttestation) []*crypto.TunnelAttestation {
		var out []*crypto.TunnelAttestation
		for _, a := range list {
			if a.Signer == o.id || len(out) < minPeerList {
				out = append(out, a)
				shown[a.Signer] = true
			}
		}
		return out
	}
	for s := range uint64(6) {
		k, _ := tn.newBlock(int(10 + s))
		if _, err := o.tu.Get(testCtx(t), 10+s, crypto.CHK, k); err != nil {
			t.Fatal(err)
		}
	}
	for _, hops := range built()[1:] {
		if hops[0] == g.id && !shown[hops[1]] {
			t.Errorf("middle %v is not among the peers the guard showed", hops[1].Short())
		}
	}
}

// TestManySessions: a user who opens more downloads in a minute than a guard takes circuits
// from one peer is never refused. Each of 100 sessions fetches one block (the first place,
// one guard); the node builds at most maxOwnPerGuard tunnels through that guard and the later
// sessions share them; the guard's count of this node's circuits stays within the limit; once
// the sessions are swept, the tunnels are closed.
func TestManySessions(t *testing.T) {
	tn := newTestNet(t, 30)
	tn.randomGraph(8, 5)
	o := tn.nodes[3]
	built := traceTunnels(o)
	ctx := testCtx(t)
	const sessions = 100
	for s := range uint64(sessions) {
		key, _ := tn.newBlock(int(5000 + s))
		if _, err := o.tu.Get(ctx, s+1, crypto.CHK, key); err != nil {
			t.Fatalf("session %d: %v", s+1, err)
		}
	}
	if n := len(built()); n > maxOwnPerGuard {
		t.Errorf("%d tunnels built for %d sessions of one block, want at most %d", n, sessions, maxOwnPerGuard)
	}
	guards := o.tu.Guards()
	if len(guards) != 1 {
		t.Fatalf("%d guards, want 1", len(guards))
	}
	g := tn.nodes[tn.index(guards[0])]
	g.tu.peers.Lock()
	held := g.tu.peers.m[o.tu.me].in
	g.tu.peers.Unlock()
	if held > maxOwnPerGuard {
		t.Errorf("the guard holds %d circuits of the node, want at most %d", held, maxOwnPerGuard)
	}
	o.tu.sweepSessions(time.Now().Add(2 * sessionIdle))
	waitFor(t, "the guard to let go of the node's circuits", func() bool {
		g.tu.peers.Lock()
		defer g.tu.peers.Unlock()
		return g.tu.peers.m[o.tu.me].in == 0
	})
}

// TestOverloadedEndReplaced: a tunnel whose end answers overloaded is retired and the request
// goes through a new tunnel, with a new end, within the same call; a place's tunnel is retired
// at most once in retireEvery, so an end that is busy right after is answered as it says.
func TestOverloadedEndReplaced(t *testing.T) {
	tn := newTestNet(t, 30)
	tn.randomGraph(8, 6)
	o := tn.nodes[4]
	built := traceTunnels(o)
	ctx := testCtx(t)
	end := firstTunnelEnd(t, ctx, tn, o, built, 7000)
	tn.mu.Lock()
	tn.busy = map[int]bool{end: true}
	tn.mu.Unlock()
	key, _ := tn.newBlock(7001)
	if _, err := o.tu.Get(ctx, 1, crypto.CHK, key); err != nil {
		t.Fatalf("with the tunnel's end busy: %v, want the block through another tunnel", err)
	}
	all := built()
	if len(all) != 2 {
		t.Fatalf("%d tunnels built, want the first and its replacement", len(all))
	}
	second := tn.index(all[1][len(all[1])-1])
	if second == end {
		t.Fatalf("the replacement ends at the busy node %d too", end)
	}
	tn.mu.Lock()
	tn.busy[second] = true
	tn.mu.Unlock()
	key, _ = tn.newBlock(7002)
	if _, err := o.tu.Get(ctx, 1, crypto.CHK, key); !errors.Is(err, wire.ErrOverloaded) {
		t.Errorf("the replacement's end busy at once: err %v, want ErrOverloaded (retired at most once in %v)", err, retireEvery)
	}
	if n := len(built()); n != 2 {
		t.Errorf("%d tunnels built, want no third within %v", n, retireEvery)
	}
}

// TestStuckEndHedged: a request whose end does not answer goes also through another tunnel of
// its session after HedgeAfter, and the block comes back through that one, long before the
// answer timeout; the stuck tunnel stays in the session.
func TestStuckEndHedged(t *testing.T) {
	tn := newTestNet(t, 30)
	tn.randomGraph(8, 6)
	o := tn.nodes[4]
	o.tu.cfg.HedgeAfter = 300 * time.Millisecond
	built := traceTunnels(o)
	ctx := testCtx(t)
	end := firstTunnelEnd(t, ctx, tn, o, built, 7100)
	tn.mu.Lock()
	tn.stuck = map[int]bool{end: true}
	tn.mu.Unlock()
	key, block := tn.newBlock(7101)
	start := time.Now()
	got, err := o.tu.Get(ctx, 1, crypto.CHK, key)
	if err != nil {
		t.Fatalf("with the tunnel's end stuck: %v, want the block through another tunnel", err)
	}
	if !bytes.Equal(got, block) {
		t.Fatal("the hedge's block differs from the one the network holds")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the block took %v with HedgeAfter %v", took, o.tu.cfg.HedgeAfter)
	}
	all := built()
	if len(all) != 2 {
		t.Fatalf("%d tunnels built, want the first and the hedge's", len(all))
	}
	if all[1][0] == all[0][0] {
		t.Errorf("the hedge's tunnel goes through the stuck one's guard: want the session's next place")
	}
	servedBy := tn.servedBy(key)
	if len(servedBy) != 2 || servedBy[0] != end {
		t.Errorf("the block was asked at ends %v, want the stuck end %d and one other", servedBy, end)
	}
	// The next block goes through the least busy tunnel: the stuck end still holds one.
	key, _ = tn.newBlock(7102)
	if _, err := o.tu.Get(ctx, 1, crypto.CHK, key); err != nil {
		t.Fatalf("next block: %v", err)
	}
	if n := len(built()); n != 2 {
		t.Errorf("%d tunnels built, want no third", n)
	}
}

// firstTunnelEnd has o fetch a fresh block (made from seed) in session 1, which builds the
// session's first tunnel, and returns the index of the node at its end. built is o's
// traceTunnels.
func firstTunnelEnd(t *testing.T, ctx context.Context, tn *testNet, o *testNode, built func() [][]crypto.NodeID, seed int) int {
	t.Helper()
	key, _ := tn.newBlock(seed)
	if _, err := o.tu.Get(ctx, 1, crypto.CHK, key); err != nil {
		t.Fatal(err)
	}
	first := built()
	if len(first) != 1 {
		t.Fatalf("%d tunnels built for one block", len(first))
	}
	return tn.index(first[0][len(first[0])-1])
}

// TestRetireLockOrder: retiring a tunnel marks its end busy, under the tunnels' own lock,
// only once it has let go of the session's lock. session() takes the two the other way round;
// a retire that waited for the tunnels' lock while holding the session's deadlocked with it,
// and every later request of the node's own waited for ever (seen under concurrent inserts
// in a 4-node network).
func TestRetireLockOrder(t *testing.T) {
	tn := newTestNet(t, 1)
	tu := tn.nodes[0].tu
	s, err := tu.session(1)
	if err != nil {
		t.Fatal(err)
	}
	own := &tunnel{t: tu, hops: []ownHop{{id: tn.nodes[0].id}}, dead: make(chan struct{})}
	s.mu.Lock()
	s.tunnels, s.building = []*tunnel{own}, []bool{false}
	s.mu.Unlock()

	tu.own.Lock() // as session() holds it, about to take the session's
	retired := make(chan bool)
	go func() { retired <- tu.retire(s, own) }()
	time.Sleep(200 * time.Millisecond) // retire is waiting for the tunnels' lock by now
	free := s.mu.TryLock()
	if free {
		s.mu.Unlock()
	}
	tu.own.Unlock()
	if !<-retired {
		t.Fatal("the tunnel was not retired")
	}
	if !free {
		t.Fatal("retire held the session's lock while it waited for the tunnels' lock: session() takes them the other way round")
	}
	if until, ok := tu.own.busyEnds[tn.nodes[0].id]; !ok || !until.After(time.Now()) {
		t.Errorf("the retired tunnel's end is not marked busy (%v, %v)", until, ok)
	}
}
