package routing

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"lethe/crypto"
	"lethe/routing/internal/tuning"
	"lethe/transport"
	"lethe/wire"
)

// The originator invariant (spec §18.2): towards every peer, a node sends its own user's
// request or insert exactly as it relays one that reached it at HTL 18. The tests here drive
// one real Router over the in-memory transport among scripted peers, twice for each script:
// once with the request or insert started by the node's user, once with the same message
// arriving from a predecessor P0 at HTL 18 with the same stem tag. Everything the other peers
// receive from the node is recorded, and the two records must be the same.
//
// What "the same" means. The two runs share every random draw that decides what a peer sees
// (the router's seed, hence its stem secret and its links' coins; the peers' scripts; the
// pause before a retry), except the values of fresh request IDs, which are uniform 64-bit
// numbers: the records are compared with each ID replaced by a label that depends only on
// where and when it appears (canonical). Equal canonical records for every script therefore
// mean identically distributed messages for the peers, and the test is exact: one script
// whose records differ fails it.
//
// The predecessor P0 has no known location, so that the node never routes to it: a relay
// never sends a message back to the peer it came from, and P0's messages are the ones that
// are allowed to differ (it knows it sent the request). P0 behaves as a node whose user asked
// would: when the node answers it RejectedOverload it asks again after the same pause, under
// a fresh ID, as the node's own user's request goes round again (spec §18.5).

// action is what a scripted peer does with a request or insert the node sends it.
type action uint8

const (
	actData          action = iota // Accepted, then the block (request) or InsertReply (insert)
	actNotFound                    // Accepted, then DataNotFound
	actRouteNotFound               // Accepted, then RouteNotFound with the move's HTL
	actOverload                    // RejectedOverload
	actLoop                        // RejectedLoop
	actSilent                      // nothing: the node's accept timeout runs out
	actAcceptSilent                // Accepted, then nothing
	actDrop                        // the link is cut
	actBadBlock                    // Accepted, then a block that does not verify
	actNotFoundOffer               // Accepted, DataNotFound, and a moment later OfferKey for the key
	numActions
)

var actionNames = [...]string{"data", "not found", "route not found", "overload", "loop", "silent", "accept+silent", "drop", "bad block", "not found+offer"}

func (a action) String() string { return actionNames[a] }

// move is a scripted peer's answer to one message.
type move struct {
	act   action
	htl   uint8         // actRouteNotFound: the HTL left
	delay time.Duration // before the answer (Accepted, if any, comes at once)
}

func (m move) String() string {
	s := m.act.String()
	if m.act == actRouteNotFound {
		s += fmt.Sprintf("(%d)", m.htl)
	}
	if m.delay >= time.Millisecond {
		s += " after " + m.delay.Round(time.Millisecond).String()
	}
	return s
}

// script is one scenario: the node, its peers and what each peer does.
type script struct {
	name    string
	insert  bool
	seed    [32]byte
	nodeLoc crypto.Location
	keep    float64 // the links' chance of keeping HTL 18
	peers   []scriptedPeerSpec
	tag     uint64
	block   int           // which test block (testBlocks)
	probe   *probeSpec    // a peer asks for the key while the node works on it
	giveUp  time.Duration // the user gives up this long after starting (0: never)
}

type scriptedPeerSpec struct {
	loc crypto.Location
	// moves answer, in turn, the messages the node sends this peer; probeMoves those that
	// carry the probe's ID. Past the end: DataNotFound.
	moves, probeMoves []move
}

// probeSpec: peer sends a request for the node's key under an ID of its own, at HTL htl, at
// time at.
type probeSpec struct {
	peer int
	at   time.Duration
	htl  uint8
}

const probeID = 0x7e57_0000_0000_0001

func (s *script) String() string {
	var b strings.Builder
	kind := "request"
	if s.insert {
		kind = "insert"
	}
	fmt.Fprintf(&b, "%s %q: node at %.3f, key at %.3f, keep %.2f, tag %x", kind, s.name, s.nodeLoc, testBlocks()[s.block].key.Location(), s.keep, s.tag)
	for i, p := range s.peers {
		fmt.Fprintf(&b, "\n  P%d at %.3f: %v; probe: %v", i+1, p.loc, p.moves, p.probeMoves)
	}
	if s.probe != nil {
		fmt.Fprintf(&b, "\n  P%d probes at HTL %d after %v", s.probe.peer+1, s.probe.htl, s.probe.at)
	}
	if s.giveUp > 0 {
		fmt.Fprintf(&b, "\n  the user gives up after %v", s.giveUp)
	}
	return b.String()
}

// retryPauseFor is the pause before the round-th retry in these tests, the same for the
// node's user and for P0: one draw of the pause, fixed (its odd length keeps it off the
// instants of other events).
func retryPauseFor(round int) time.Duration {
	return 1037 * time.Millisecond << min(round, 3)
}

type testBlock struct {
	block []byte
	key   crypto.RoutingKey
}

var testBlocks = sync.OnceValue(func() []testBlock {
	out := make([]testBlock, 8)
	for i := range out {
		block, key, err := crypto.EncodeCHKWithKey(fmt.Appendf(nil, "originator test block %d", i), sha256.Sum256([]byte("originator test")))
		if err != nil {
			panic(err)
		}
		out[i] = testBlock{block, key.Routing}
	}
	return out
})

// record is what the scripted peers received in one run.
type record struct {
	mu      sync.Mutex
	start   time.Time
	entries []recorded
}

type recorded struct {
	peer int
	at   time.Duration
	m    wire.Message
}

func (r *record) add(peer int, m wire.Message) {
	if _, ok := m.(*wire.LocationUpdate); ok {
		return // topology, not the message: P0's link changes it
	}
	r.mu.Lock()
	r.entries = append(r.entries, recorded{peer, time.Since(r.start), m})
	r.mu.Unlock()
}

// scriptedPeer plays one peer's part of a script.
type scriptedPeer struct {
	idx  int
	spec scriptedPeerSpec
	ref  *wire.NodeRef
	t    *transport.MemNode
	rec  *record
	key  crypto.RoutingKey

	mu               sync.Mutex
	next, nextProbed int
}

func (p *scriptedPeer) PeerUp(transport.Peer)         {}
func (p *scriptedPeer) PeerDown(crypto.NodeID, error) {}

func (p *scriptedPeer) Receive(from crypto.NodeID, m wire.Message) {
	p.rec.add(p.idx, m)
	var id uint64
	insert := false
	switch m := m.(type) {
	case *wire.Request:
		id = m.ID
	case *wire.Insert:
		id, insert = m.ID, true
	default:
		return
	}
	p.mu.Lock()
	moves, i := p.spec.moves, &p.next
	if id == probeID {
		moves, i = p.spec.probeMoves, &p.nextProbed
	}
	mv := move{act: actNotFound}
	if *i < len(moves) {
		mv = moves[*i]
	}
	*i++
	p.mu.Unlock()
	send := func(m wire.Message) { p.t.Send(context.Background(), from, m) }
	later := func(f func()) {
		go func() {
			time.Sleep(mv.delay)
			f()
		}()
	}
	switch mv.act {
	case actData:
		send(&wire.Accepted{ID: id})
		later(func() {
			if insert {
				send(&wire.InsertReply{ID: id})
			} else {
				send(&wire.DataReply{KeyType: crypto.CHK, ID: id, Block: testBlockFor(p.key)})
			}
		})
	case actNotFound:
		send(&wire.Accepted{ID: id})
		later(func() { send(&wire.DataNotFound{ID: id}) })
	case actRouteNotFound:
		send(&wire.Accepted{ID: id})
		later(func() { send(&wire.RouteNotFound{ID: id, HTL: mv.htl}) })
	case actOverload:
		later(func() { send(&wire.RejectedOverload{ID: id}) })
	case actLoop:
		later(func() { send(&wire.RejectedLoop{ID: id}) })
	case actSilent:
	case actAcceptSilent:
		send(&wire.Accepted{ID: id})
	case actDrop:
		later(func() { p.t.Disconnect(from) })
	case actBadBlock:
		send(&wire.Accepted{ID: id})
		later(func() {
			bad := make([]byte, crypto.CHKBlockSize)
			bad[0] = 1
			send(&wire.DataReply{KeyType: crypto.CHK, ID: id, Block: bad})
		})
	case actNotFoundOffer:
		send(&wire.Accepted{ID: id})
		later(func() {
			send(&wire.DataNotFound{ID: id})
			time.Sleep(577 * time.Millisecond)
			send(&wire.OfferKey{KeyType: crypto.CHK, Key: p.key})
		})
	}
}

func testBlockFor(key crypto.RoutingKey) []byte {
	for _, b := range testBlocks() {
		if b.key == key {
			return b.block
		}
	}
	panic("routing: no test block for the key")
}

// predecessor is P0 in the relayed run: it sends the script's message to the node at HTL 18
// and, answered RejectedOverload, sends it again under a fresh ID after the retry pause, as
// the node's own user's request goes round again.
type predecessor struct {
	t     *transport.MemNode
	node  crypto.NodeID
	msg   func(id uint64) wire.Message
	until time.Time // no round starts after it: the user's deadline, or the request timeout

	mu    sync.Mutex
	id    uint64
	round int
}

func (p *predecessor) PeerUp(transport.Peer)         {}
func (p *predecessor) PeerDown(crypto.NodeID, error) {}

func (p *predecessor) Receive(from crypto.NodeID, m wire.Message) {
	if _, ok := m.(*wire.RejectedOverload); !ok {
		return
	}
	p.mu.Lock()
	pause := retryPauseFor(p.round)
	if messageID(m) != p.id || time.Now().Add(pause).After(p.until) {
		p.mu.Unlock()
		return
	}
	p.round++
	p.id = 0xa0_0000 + uint64(p.round)
	id := p.id
	p.mu.Unlock()
	go func() {
		time.Sleep(pause)
		p.t.Send(context.Background(), p.node, p.msg(id))
	}()
}

// runScript runs s once, with the node's user starting the message (own) or P0 sending it,
// and returns each peer's canonical record.
func runScript(t *testing.T, s *script, own bool) []string {
	var out []string
	synctest.Test(t, func(t *testing.T) {
		tb := testBlocks()[s.block]
		net := transport.NewMemNetwork()
		ident := crypto.NewNodeIdentity(sha256.Sum256([]byte("originator test node")))
		ref, err := wire.NewNodeRef(ident, wire.NodeRefInfo{})
		if err != nil {
			t.Fatal(err)
		}
		seed := s.seed
		r := New(Config{Store: NewMemStore(s.nodeLoc, 100, 100), Location: s.nodeLoc, MaxPeers: 20, Seed: &seed,
			SwapInterval: -1, Tuning: &tuning.Options{LocationUpdateDelay: -1, StemKeepProbability: s.keep}})
		r.retryPause = retryPauseFor
		node, err := net.Join(transport.MemConfig{Ref: ref, Handler: r})
		if err != nil {
			t.Fatal(err)
		}
		r.Start(node)
		rec := &record{}
		var links []*transport.MemNode
		for i, spec := range s.peers {
			pident := crypto.NewNodeIdentity(sha256.Sum256(fmt.Appendf(nil, "originator test peer %d", i)))
			pref, err := wire.NewNodeRef(pident, wire.NodeRefInfo{Location: spec.loc, WithLocation: true})
			if err != nil {
				t.Fatal(err)
			}
			p := &scriptedPeer{idx: i, spec: spec, ref: pref, rec: rec, key: tb.key}
			if p.t, err = net.Join(transport.MemConfig{Ref: pref, Handler: p}); err != nil {
				t.Fatal(err)
			}
			links = append(links, p.t)
			if err := p.t.Connect(context.Background(), ref); err != nil {
				t.Fatal(err)
			}
			synctest.Wait() // the links come up in the same order in both runs: the same coins
		}
		msg := func(id uint64) wire.Message {
			if s.insert {
				return &wire.Insert{KeyType: crypto.CHK, ID: id, HTL: wire.MaxHTL, Stem: s.tag, Key: tb.key, Timeout: r.cfg.RequestTimeout, Block: tb.block}
			}
			return &wire.Request{KeyType: crypto.CHK, ID: id, HTL: wire.MaxHTL, Stem: s.tag, Key: tb.key, Timeout: r.cfg.RequestTimeout}
		}
		rec.start = time.Now()
		var pred *predecessor
		if own {
			ctx := WithStem(context.Background(), s.tag)
			cancel := func() {}
			if s.giveUp > 0 {
				ctx, cancel = context.WithTimeout(ctx, s.giveUp)
			}
			go func() {
				defer cancel()
				if s.insert {
					r.PutBlock(ctx, crypto.CHK, tb.key, tb.block)
				} else {
					r.GetBlock(ctx, crypto.CHK, tb.key)
				}
			}()
		} else {
			pident := crypto.NewNodeIdentity(sha256.Sum256([]byte("originator test predecessor")))
			pref, err := wire.NewNodeRef(pident, wire.NodeRefInfo{}) // no location: never routed to
			if err != nil {
				t.Fatal(err)
			}
			pred = &predecessor{node: ident.ID(), msg: msg, id: 0xa0_0000}
			if pred.t, err = net.Join(transport.MemConfig{Ref: pref, Handler: pred}); err != nil {
				t.Fatal(err)
			}
			links = append(links, pred.t)
			if err := pred.t.Connect(context.Background(), ref); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
			rec.start = time.Now()
			pred.until = rec.start.Add(r.cfg.RequestTimeout)
			if s.giveUp > 0 {
				pred.until = rec.start.Add(s.giveUp)
			}
			pred.t.Send(context.Background(), ident.ID(), msg(pred.id))
		}
		if s.probe != nil {
			go func() {
				time.Sleep(s.probe.at)
				links[s.probe.peer].Send(context.Background(), ident.ID(), &wire.Request{KeyType: crypto.CHK, ID: probeID, HTL: s.probe.htl, Key: tb.key, Timeout: 30 * time.Second})
			}()
		}
		// Long enough for every walk, its retries and every answer to end.
		time.Sleep(20 * time.Minute)
		synctest.Wait()
		r.Close()
		for _, l := range links {
			l.Close()
		}
		node.Close()
		out = canonical(rec.entries, len(s.peers))
	})
	return out
}

// canonical turns a run's record into one text per peer, with request IDs replaced by labels
// that depend only on where and when each ID appears, and entries at the same moment in a
// fixed order.
func canonical(entries []recorded, peers int) []string {
	type seen struct{ sig []string }
	sigs := map[uint64]*seen{}
	line := func(e recorded, id string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "%15.9fs %-16v id=%s", e.at.Seconds(), e.m.Type(), id)
		switch m := e.m.(type) {
		case *wire.Request:
			fmt.Fprintf(&b, " htl=%d stem=%x tail=%v timeout=%v key=%x", m.HTL, m.Stem, m.Tail, m.Timeout, m.Key[:4])
		case *wire.Insert:
			fmt.Fprintf(&b, " htl=%d stem=%x tail=%v timeout=%v key=%x block=%x", m.HTL, m.Stem, m.Tail, m.Timeout, m.Key[:4], sha256.Sum256(m.Block))
		case *wire.RouteNotFound:
			fmt.Fprintf(&b, " htl=%d", m.HTL)
		case *wire.DataReply:
			fmt.Fprintf(&b, " block=%x", sha256.Sum256(m.Block))
		case *wire.OfferKey:
			fmt.Fprintf(&b, " key=%x", m.Key[:4])
		}
		return b.String()
	}
	for _, e := range entries {
		if id, ok := idOf(e.m); ok {
			if sigs[id] == nil {
				sigs[id] = &seen{}
			}
			sigs[id].sig = append(sigs[id].sig, fmt.Sprintf("P%d %s", e.peer, line(e, "")))
		}
	}
	ids := make([]uint64, 0, len(sigs))
	for id, s := range sigs {
		slices.Sort(s.sig)
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b uint64) int { return slices.Compare(sigs[a].sig, sigs[b].sig) })
	label := map[uint64]string{}
	for i, id := range ids {
		label[id] = fmt.Sprintf("#%d", i)
		if id == probeID {
			label[id] = "probe"
		}
	}
	lines := make([][]string, peers)
	for _, e := range entries {
		id := ""
		if v, ok := idOf(e.m); ok {
			id = label[v]
		}
		lines[e.peer] = append(lines[e.peer], line(e, id))
	}
	out := make([]string, peers)
	for i := range lines {
		slices.Sort(lines[i]) // by time first: the same moment in a fixed order
		out[i] = strings.Join(lines[i], "\n")
	}
	return out
}

// checkScript runs s both ways and fails the test if a peer's records differ.
func checkScript(t *testing.T, s *script) {
	t.Helper()
	if d := firstDifference(s, runScript(t, s, true), runScript(t, s, false)); d != "" {
		t.Error(d)
	}
}

// firstDifference describes the first peer whose records differ between the run where the
// node's user started the message (own) and the one where P0 sent it (relayed), or is empty.
func firstDifference(s *script, own, relayed []string) string {
	for i := range own {
		if own[i] != relayed[i] {
			return fmt.Sprintf("%v\nP%d received, when the node's user started it:\n%s\nand when P0 sent it at HTL 18:\n%s", s, i+1, indent(own[i]), indent(relayed[i]))
		}
	}
	return ""
}

func indent(s string) string {
	if s == "" {
		return "    (nothing)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// named builds a script of the given peers (locations and moves) for one of the known cases.
func named(name string, insert bool, keep float64, peers ...scriptedPeerSpec) *script {
	return &script{name: name, insert: insert, seed: sha256.Sum256([]byte(name)), nodeLoc: 0.5, keep: keep,
		peers: peers, tag: 0x5eed, block: 0}
}

func moves(ms ...move) []move { return ms }

// TestOriginatorLooksLikeARelay checks the invariant on the known ways in which the two used
// to differ, one script each, requests and inserts.
func TestOriginatorLooksLikeARelay(t *testing.T) {
	data := move{act: actData}
	rnf := move{act: actRouteNotFound, htl: 17}
	for _, s := range []*script{
		// The stem peer finds no route: the next stem peer must not get the same ID at HTL
		// 18 from an originator only.
		named("route not found on the stem", false, 1, scriptedPeerSpec{loc: 0.1, moves: moves(rnf, data)},
			scriptedPeerSpec{loc: 0.3, moves: moves(rnf, data)}, scriptedPeerSpec{loc: 0.7, moves: moves(rnf, data)}),
		named("route not found on the stem, insert", true, 1, scriptedPeerSpec{loc: 0.1, moves: moves(rnf, data)},
			scriptedPeerSpec{loc: 0.3, moves: moves(rnf, data)}, scriptedPeerSpec{loc: 0.7, moves: moves(rnf, data)}),
		// A single peer that finds no route: a relay comes back to it with the key at a lower
		// HTL, so must the originator.
		named("come back at lower HTL", false, 1, scriptedPeerSpec{loc: 0.2, moves: moves(rnf, data)}),
		// Every stem peer refuses for load.
		named("overload on every stem peer", false, 1, scriptedPeerSpec{loc: 0.2, moves: moves(move{act: actOverload}, data)},
			scriptedPeerSpec{loc: 0.6, moves: moves(move{act: actOverload}, data)}),
		named("overload on every stem peer, insert", true, 1, scriptedPeerSpec{loc: 0.2, moves: moves(move{act: actOverload}, data)},
			scriptedPeerSpec{loc: 0.6, moves: moves(move{act: actOverload}, data)}),
		// Every stem peer has seen the stem's ID already.
		named("loop on every stem peer", false, 1, scriptedPeerSpec{loc: 0.2, moves: moves(move{act: actLoop}, data)},
			scriptedPeerSpec{loc: 0.6, moves: moves(move{act: actLoop}, data)}),
		// A stem peer that does not accept in time.
		named("silent stem peer", false, 1, scriptedPeerSpec{loc: 0.2, moves: moves(move{act: actSilent}, data)}),
		// The user gives up while the stem peer still works on it.
		func() *script {
			s := named("user gives up", false, 1, scriptedPeerSpec{loc: 0.2, moves: moves(move{act: actRouteNotFound, htl: 17, delay: 6 * time.Second}, data)},
				scriptedPeerSpec{loc: 0.6, moves: moves(move{act: actRouteNotFound, htl: 17, delay: 6 * time.Second}, data)})
			s.giveUp = 2 * time.Second
			return s
		}(),
		// A peer asks for the key the node is working on, under an ID of its own.
		func() *script {
			s := named("probe for the key", false, 1, scriptedPeerSpec{loc: 0.2, moves: moves(move{act: actAcceptSilent}), probeMoves: moves(data)},
				scriptedPeerSpec{loc: 0.6, moves: moves(move{act: actAcceptSilent}), probeMoves: moves(data)})
			s.probe = &probeSpec{peer: 1, at: time.Second, htl: 10}
			return s
		}(),
		func() *script {
			s := named("probe for the key, insert", true, 1, scriptedPeerSpec{loc: 0.2, moves: moves(move{act: actAcceptSilent}), probeMoves: moves(data)},
				scriptedPeerSpec{loc: 0.6, moves: moves(move{act: actAcceptSilent}), probeMoves: moves(data)})
			s.probe = &probeSpec{peer: 1, at: time.Second, htl: 10}
			return s
		}(),
		// The stem peer finds nothing and later offers the block (recently failed, §18.6).
		named("offer after not found", false, 1, scriptedPeerSpec{loc: 0.2, moves: moves(move{act: actNotFoundOffer}, data)}),
	} {
		t.Run(s.name, func(t *testing.T) { checkScript(t, s) })
	}
}

// TestOriginatorLooksLikeARelayRandom checks the invariant over randomly scripted peers: one
// to five peers at random places, each answering its messages with random moves (every
// action, at random delays, RouteNotFound with any HTL), random link coins, inserts and
// requests, a peer probing for the key at a random moment in some, the user giving up at a
// random moment in others. 1,500 scripts (15,000 with LETHE_LONG=1), each run twice.
func TestOriginatorLooksLikeARelayRandom(t *testing.T) {
	n := 1500
	if long() {
		n = 15000
	}
	failed := 0
	for i := range n {
		s := randomScript(uint64(i))
		own, relayed := runScript(t, s, true), runScript(t, s, false)
		if d := firstDifference(s, own, relayed); d != "" {
			if failed++; failed <= 3 {
				t.Error(d)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d scripts: a peer received other messages from the originator than from a relay", failed, n)
	}
}

func randomScript(i uint64) *script {
	rng := rand.New(rand.NewPCG(i, 0x0219))
	s := &script{name: fmt.Sprintf("random %d", i), insert: rng.IntN(5) < 2, nodeLoc: crypto.Location(rng.Float64()),
		keep: []float64{0.3, 0.7, 1}[rng.IntN(3)], tag: rng.Uint64() | 1, block: rng.IntN(len(testBlocks()))}
	binary.BigEndian.PutUint64(s.seed[:], i)
	// Delays that are not sums of one another or of the router's timeouts (5 s to accept,
	// 0.5 s of backoff, 250 ms of waiting), each with an odd number of microseconds of its
	// own, so that no two events fall on the same instant, where their order would be the
	// scheduler's.
	delays := []time.Duration{0, 317 * time.Millisecond, 2113 * time.Millisecond, 6271 * time.Millisecond}
	probing := rng.IntN(10) < 3
	randomMoves := func(n int) []move {
		ms := make([]move, n)
		for j := range ms {
			ms[j] = move{act: action(rng.IntN(int(numActions))), htl: uint8(rng.IntN(wire.MaxHTL + 1)),
				delay: delays[rng.IntN(len(delays))] + time.Duration(1+2*rng.IntN(500))*time.Microsecond}
			for probing && ms[j].act == actDrop {
				ms[j].act = action(rng.IntN(int(numActions)))
			}
		}
		return ms
	}
	// The probe is a second search in the node beside the script's own, sharing its peers.
	// Its peers answer it at once, without backing off or cutting links, and it comes at an
	// instant (odd nanoseconds) no other event shares: so it is over at the instant it
	// arrives, and nothing the two searches do to each other depends on the order in which
	// the scheduler runs them. (A cut link wakes every search waiting on the peer at the same
	// instant, so scripts with a probe cut none.)
	probeMoves := func(n int) []move {
		ms := make([]move, n)
		for j := range ms {
			ms[j] = move{act: []action{actData, actNotFound, actRouteNotFound, actLoop}[rng.IntN(4)], htl: uint8(rng.IntN(wire.MaxHTL + 1))}
		}
		return ms
	}
	for range 1 + rng.IntN(5) {
		s.peers = append(s.peers, scriptedPeerSpec{loc: crypto.Location(rng.Float64()), moves: randomMoves(6), probeMoves: probeMoves(2)})
	}
	oddNanos := func() time.Duration { return time.Duration(1+2*rng.IntN(500)) * time.Nanosecond }
	if probing {
		s.probe = &probeSpec{peer: rng.IntN(len(s.peers)), at: time.Duration(1+rng.IntN(9000))*time.Millisecond + oddNanos(), htl: uint8(1 + rng.IntN(wire.MaxHTL-1))}
	}
	if rng.IntN(10) < 2 {
		s.giveUp = time.Duration(1+rng.IntN(10000))*time.Millisecond + oddNanos()
	}
	return s
}

// long reports whether the long variants of tests run (LETHE_LONG=1).
func long() bool { return os.Getenv("LETHE_LONG") != "" }
