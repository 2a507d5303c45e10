package transport

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// Reachability (spec §11.5): each side of a link tells the other the address it sees the link
// come from (ObservedAddress); a node believes an outside address only when peers at two
// different addresses or more agree on it, so that one peer cannot move it. A node whose
// noderef changes tells its peers (NodeRefUpdate). Two nodes behind NATs that cannot dial
// each other ask their peers to introduce them (PunchRequest); a peer linked to both over
// QUIC sends each the other's observed address at once (PunchIntro), both send UDP packets
// towards each other, which opens their NATs' mappings, and the one that asked dials QUIC.

// Reachability tuning (not protocol).
const (
	// punchWanted: how long a peer the node failed to dial stays wanted, so that each new
	// QUIC link is asked to introduce it.
	punchWanted = 2 * time.Minute
	// punchPackets are sent punchSpacing apart by each side of a punch; punchDial bounds the
	// dial that follows.
	punchPackets = 8
	punchSpacing = 250 * time.Millisecond
	punchDial    = 8 * time.Second
	// maxPunches bounds the punches in progress; punchRate and punchBurst bound the
	// requests and introductions one peer may make this node act on.
	maxPunches = 16
	punchRate  = 1.0
	punchBurst = 8
	// maxWanted bounds the peers waiting for an introduction; punchAfter is how long a
	// direct dial may take before introductions are asked for beside it (a dial to a
	// private address of another network fails only at its timeout).
	maxWanted  = 64
	punchAfter = 3 * time.Second
	// punchPacketSize: a punch packet is this many zero bytes. A first byte of zero is not a
	// QUIC packet, so the receiving QUIC stack drops it.
	punchPacketSize = 16
)

// NATKind is what peers' observations say of the node's NAT for QUIC.
type NATKind int

const (
	// NATUnknown: fewer than two peers at different addresses have reported.
	NATUnknown NATKind = iota
	// NATConsistent: peers see the same outside address: no NAT, or one that keeps a
	// mapping for every destination (endpoint-independent), which hole punching works with.
	NATConsistent
	// NATSymmetric: peers see the same outside host at different ports: the NAT maps each
	// destination to its own port, and no peer behind a NAT can reach this node directly.
	NATSymmetric
)

func (k NATKind) String() string {
	switch k {
	case NATConsistent:
		return "consistent"
	case NATSymmetric:
		return "symmetric"
	}
	return "unknown"
}

// Reachability is what the transport has learnt of how the node is reached.
type Reachability struct {
	// Outside is the QUIC address peers at two different addresses or more agree they see
	// this node at; zero if none agree.
	Outside netip.AddrPort
	// Agreeing is how many peers (at different addresses) report Outside; Reporters how many
	// report any QUIC address.
	Agreeing, Reporters int
	NAT                 NATKind
	// PunchesTried and PunchesLinked count hole punches this node asked for and those that
	// ended in a link; PunchFailures names the peers of the last few that did not.
	PunchesTried, PunchesLinked int
	PunchFailures               []crypto.NodeID
}

// reach is the transport's reachability state, with its own lock.
type reach struct {
	mu       sync.Mutex
	observed map[crypto.NodeID]observation  // QUIC links' reports; guarded by mu
	wanted   map[crypto.NodeID]wantedPeer   // peers to ask introductions for; guarded by mu
	punching map[crypto.NodeID]bool         // punches in progress; guarded by mu
	buckets  map[crypto.NodeID]*tokenBucket // per peer: requests and intros acted on; guarded by mu
	tried    int                            // guarded by mu
	linked   int                            // guarded by mu
	failures []crypto.NodeID                // guarded by mu
}

type observation struct {
	addr netip.AddrPort // what the peer sees
	from netip.Addr     // where the peer is, as this node sees it
}

type wantedPeer struct {
	ref   *wire.NodeRef
	until time.Time
}

func newReach() *reach {
	return &reach{
		observed: map[crypto.NodeID]observation{},
		wanted:   map[crypto.NodeID]wantedPeer{},
		punching: map[crypto.NodeID]bool{},
		buckets:  map[crypto.NodeID]*tokenBucket{},
	}
}

// allow takes one of the peer's tokens for punching work.
func (r *reach) allow(id crypto.NodeID, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.buckets[id]
	if b == nil {
		b = newTokenBucket(punchRate, punchBurst, now)
		r.buckets[id] = b
	}
	return b.take(now)
}

// Reachability reports what peers say of this node's outside address and NAT.
func (t *TCP) Reachability() Reachability {
	r := t.reach
	r.mu.Lock()
	defer r.mu.Unlock()
	// One report per peer address: several peers on one host count once.
	byFrom := map[netip.Addr]netip.AddrPort{}
	for _, o := range r.observed {
		byFrom[o.from] = o.addr
	}
	count := map[netip.AddrPort]int{}
	ports := map[netip.Addr]map[uint16]bool{}
	for _, a := range byFrom {
		count[a]++
		if ports[a.Addr()] == nil {
			ports[a.Addr()] = map[uint16]bool{}
		}
		ports[a.Addr()][a.Port()] = true
	}
	rep := Reachability{
		Reporters:     len(byFrom),
		PunchesTried:  r.tried,
		PunchesLinked: r.linked,
		PunchFailures: slices.Clone(r.failures),
	}
	for a, n := range count {
		if n >= 2 && (n > rep.Agreeing || n == rep.Agreeing && a.Compare(rep.Outside) < 0) {
			rep.Outside, rep.Agreeing = a, n
		}
	}
	for _, ps := range ports {
		if len(ps) > 1 {
			rep.NAT = NATSymmetric
		}
	}
	if rep.NAT == NATUnknown && rep.Agreeing > 0 {
		rep.NAT = NATConsistent
	}
	return rep
}

// linkUp tells a new link's peer where this node sees it, and on a QUIC link asks it for the
// introductions this node waits for.
func (t *TCP) linkUp(l *link) {
	ctx := context.Background() // the link is new: its queue has room
	if l.remote.IsValid() && l.remote.Addr().IsValid() {
		t.sendLink(ctx, l, &wire.ObservedAddress{Addr: l.remote})
	}
	if l.kind != overQUIC {
		return
	}
	r := t.reach
	now := time.Now()
	var ask []crypto.NodeID
	r.mu.Lock()
	delete(r.wanted, l.id)
	for id, w := range r.wanted {
		if now.After(w.until) {
			delete(r.wanted, id)
			continue
		}
		ask = append(ask, id)
	}
	r.mu.Unlock()
	for _, id := range ask {
		t.sendLink(ctx, l, &wire.PunchRequest{Peer: id})
	}
}

// linkDown forgets what the peer of a closed link reported, unless a new link to it is up.
func (t *TCP) linkDown(id crypto.NodeID) {
	if t.linkOf(id) != nil {
		return
	}
	r := t.reach
	r.mu.Lock()
	delete(r.observed, id)
	delete(r.buckets, id)
	r.mu.Unlock()
}

func (t *TCP) linkOf(id crypto.NodeID) *link {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.links[id]
}

// sendLink queues a transport message on one link without waiting for room.
func (t *TCP) sendLink(ctx context.Context, l *link, m wire.Message) {
	b, err := wire.Encode(m)
	if err != nil {
		return
	}
	done, cancel := context.WithCancel(ctx)
	cancel() // never wait: a full queue drops the message
	l.enqueueUncounted(done, b)
}

// linkMessage handles the transport's own messages (spec §11.5) arriving on l.
func (t *TCP) linkMessage(l *link, m wire.Message) error {
	switch m := m.(type) {
	case *wire.ObservedAddress:
		if l.kind == overQUIC && l.remote.IsValid() {
			t.reach.mu.Lock()
			t.reach.observed[l.id] = observation{addr: m.Addr, from: l.remote.Addr()}
			t.reach.mu.Unlock()
		}
	case *wire.NodeRefUpdate:
		if m.Ref.ID() != l.id {
			return protocolError("NodeRefUpdate for another node")
		}
		t.mu.Lock()
		if t.kept[l.id] != nil {
			t.kept[l.id] = m.Ref
		}
		t.mu.Unlock()
		if t.refUpdated != nil {
			t.refUpdated(m.Ref)
		}
	case *wire.PunchRequest:
		t.introduce(l, m.Peer)
	case *wire.PunchIntro:
		t.punch(l, m.Peer, m.Addr)
	}
	return nil
}

// introduce answers a peer's PunchRequest: if this node has QUIC links to both, each is told
// where the other is, at once.
func (t *TCP) introduce(from *link, target crypto.NodeID) {
	if target == from.id || from.kind != overQUIC || !t.reach.allow(from.id, time.Now()) {
		return
	}
	to := t.linkOf(target)
	if to == nil || to.kind != overQUIC || !to.remote.IsValid() || !from.remote.IsValid() {
		return
	}
	ctx := context.Background()
	t.sendLink(ctx, to, &wire.PunchIntro{Peer: from.id, Addr: from.remote})
	t.sendLink(ctx, from, &wire.PunchIntro{Peer: target, Addr: to.remote})
	t.log.Debug("introduced two peers", "from", from.id, "to", target)
}

// punch acts on an introduction: this node sends punch packets towards addr and, if it asked
// for the introduction, dials peer there.
func (t *TCP) punch(via *link, peer crypto.NodeID, addr netip.AddrPort) {
	if t.quic == nil || peer == t.identity.ID() || !t.reach.allow(via.id, time.Now()) {
		return
	}
	r := t.reach
	r.mu.Lock()
	w, wanted := r.wanted[peer]
	if r.punching[peer] || len(r.punching) >= maxPunches || t.linkOf(peer) != nil {
		r.mu.Unlock()
		return
	}
	if !wanted && t.wantsPunch != nil && !t.wantsPunch(peer) {
		r.mu.Unlock()
		return
	}
	r.punching[peer] = true
	if wanted {
		r.tried++
	}
	r.mu.Unlock()
	t.spawn(func() {
		defer func() {
			r.mu.Lock()
			delete(r.punching, peer)
			r.mu.Unlock()
		}()
		ua := net.UDPAddrFromAddrPort(addr)
		if !wanted {
			// The introduced peer dials; the packets open this node's NAT for it.
			t.sendPunchPackets(ua, nil)
			return
		}
		stop := make(chan struct{})
		var sent sync.WaitGroup
		sent.Go(func() { t.sendPunchPackets(ua, stop) })
		defer sent.Wait()
		defer close(stop)
		ctx, cancel := context.WithTimeout(t.ctx, punchDial)
		defer cancel()
		l, err := t.dialQUICAt(ctx, ua, w.ref)
		if err == nil {
			if err = t.register(l, keep); err != nil {
				l.closeConn()
			}
		}
		r.mu.Lock()
		if err == nil {
			r.linked++
			delete(r.wanted, peer)
		} else {
			r.failures = append(r.failures, peer)
			if len(r.failures) > 4 {
				r.failures = r.failures[1:]
			}
		}
		r.mu.Unlock()
		if err != nil {
			t.log.Info("hole punching failed", "peer", peer, "err", err)
		} else {
			t.log.Info("hole punching linked a peer", "peer", peer)
		}
	})
}

// sendPunchPackets sends the punch packets towards ua until they are all sent or stop closes.
func (t *TCP) sendPunchPackets(ua *net.UDPAddr, stop <-chan struct{}) {
	pkt := make([]byte, punchPacketSize)
	for i := range punchPackets {
		if i > 0 {
			select {
			case <-time.After(punchSpacing):
			case <-stop:
				return
			case <-t.ctx.Done():
				return
			}
		}
		t.quic.tr.WriteTo(pkt, ua)
	}
}

// wantPunch notes that ref could not be dialled directly: every QUIC peer, now and as new
// ones link, is asked to introduce it.
func (t *TCP) wantPunch(ref *wire.NodeRef) {
	if t.quic == nil {
		return
	}
	r := t.reach
	r.mu.Lock()
	if _, ok := r.wanted[ref.ID()]; !ok && len(r.wanted) >= maxWanted {
		r.mu.Unlock()
		return
	}
	r.wanted[ref.ID()] = wantedPeer{ref: ref, until: time.Now().Add(punchWanted)}
	r.mu.Unlock()
	t.mu.Lock()
	var quicLinks []*link
	for _, l := range t.links {
		if l.kind == overQUIC {
			quicLinks = append(quicLinks, l)
		}
	}
	t.mu.Unlock()
	for _, l := range quicLinks {
		t.sendLink(context.Background(), l, &wire.PunchRequest{Peer: ref.ID()})
	}
}
