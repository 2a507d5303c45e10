package routing

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// Opennet (spec §18.8): strangers become peers through announcements, when a node joins, and
// through path folding, on successful requests. A node keeps up to MaxPeers of them, and
// when an offer comes while it is full, drops the peer that has been useful least recently,
// but never one still in its grace period.

// announceHTL is how far an announcement travels towards the newcomer's location.
const announceHTL = 10

// transientTime is how long a seed keeps a newcomer's link beyond MaxPeers if the newcomer
// does not announce itself; transientLinger how long after its announcement.
const (
	transientTime   = time.Minute
	transientLinger = 5 * time.Second
)

// A new peer is protected from being dropped for a newcomer until it has had the chance to
// prove itself (spec §18.8): for graceTime, or until this node has completed graceRequests
// requests since it connected, whichever comes first.
const graceTime = 2 * time.Minute

// dropInterval is the least time between two peers dropped to make room for newcomers. Each
// drop can cut a link the network needs; dropping at a bounded rate lets the network repair
// itself between drops (Freenet limits drops the same way).
const dropInterval = time.Minute

func (r *Router) graceRequests() uint64 { return uint64(4 * r.cfg.MaxPeers) }

// inGraceLocked reports whether p is still protected.
func (r *Router) inGraceLocked(p *peer, now time.Time) bool {
	return now.Sub(p.connectedAt) < graceTime && r.completed-p.joinedAt < r.graceRequests()
}

// WantsPeer reports whether this node would take id as a new opennet peer now: a transport
// asks it before accepting a stranger's link.
func (r *Router) WantsPeer(id crypto.NodeID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.peers[id]; ok {
		return true
	}
	return r.cfg.Opennet && !r.refusesLocked(id) && !r.closed && (r.cfg.SeedNode || len(r.peers) < r.cfg.MaxPeers || r.droppableLocked() != nil)
}

// droppableLocked returns the opennet peer to drop for a newcomer, or nil if none is past its
// grace period.
func (r *Router) droppableLocked() *peer {
	now := r.now()
	if !r.lastDrop.IsZero() && now.Sub(r.lastDrop) < dropInterval {
		return nil
	}
	ring := r.ringNeighboursLocked()
	var worst *peer
	for _, p := range r.peers {
		if p.darknet || p.transient || ring[p] || r.inGraceLocked(p, now) {
			continue
		}
		if worst == nil || p.lastSuccess.Before(worst.lastSuccess) {
			worst = p
		}
	}
	return worst
}

// ringLinks is how many of its nearest peers on each side of its location a node never drops
// for a newcomer (spec §18.8).
const ringLinks = 2

// ringNeighboursLocked returns the peers a node keeps whatever their use: the ringLinks
// nearest its location on either side. Greedy routing makes progress at every node only if
// each node links to the nodes next to it on the circle; without them a request that has
// come near its key stops at a node with no peer nearer still and wanders among far ones.
// Those links are seldom the ones that answer (a key near a node is mostly in its own store),
// so dropping the peer idle longest would cut them first.
func (r *Router) ringNeighboursLocked() map[*peer]bool {
	var cw, ccw []*peer // nearest first, at most ringLinks each
	offset := func(p *peer) float64 { return math.Mod(float64(p.loc)-float64(r.loc)+1, 1) }
	back := func(p *peer) float64 { return 1 - offset(p) }
	insert := func(side []*peer, p *peer, d func(*peer) float64) []*peer {
		i := len(side)
		for i > 0 && d(p) < d(side[i-1]) {
			i--
		}
		if i >= ringLinks {
			return side
		}
		side = slices.Insert(side, i, p)
		return side[:min(len(side), ringLinks)]
	}
	for _, p := range r.peers {
		if !p.routable() || p.darknet {
			continue
		}
		if offset(p) < 0.5 {
			cw = insert(cw, p, offset)
		} else {
			ccw = insert(ccw, p, back)
		}
	}
	ring := make(map[*peer]bool, 2*ringLinks)
	for _, p := range append(cw, ccw...) {
		ring[p] = true
	}
	return ring
}

// considerOffer connects to a noderef offered by path folding or an announcement if this node
// wants another peer, dropping its least useful one if it is full.
func (r *Router) considerOffer(ref *wire.NodeRef) {
	if !r.cfg.Opennet || r.cfg.Connect == nil || ref == nil {
		return
	}
	id := ref.ID()
	if r.cfg.Ref != nil && r.cfg.Ref().ID() == id {
		return
	}
	r.mu.Lock()
	r.stats.PathFoldOffers++
	if _, ok := r.peers[id]; ok || r.closed {
		r.mu.Unlock()
		return
	}
	// A full node connects only if a peer could make way; the peer goes once the new link is
	// up (PeerUp), so a connection that fails costs nothing.
	if len(r.peers) >= r.cfg.MaxPeers && r.droppableLocked() == nil {
		r.mu.Unlock()
		return
	}
	r.stats.PathFoldConnected++
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
		defer cancel()
		if err := r.cfg.Connect(ctx, ref); err != nil {
			r.log.Debug("connecting to offered peer failed", "peer", id, "err", err)
		}
	}()
}

// Maintain keeps an opennet node connected (spec §18.8): with fewer than half of MaxPeers
// (path folding fills the rest), it links to a random seed and announces itself through it, towards its own
// location for its near neighbours and towards longLinks locations farther off, at distances
// drawn with probability ∝ 1/d, for one long link each: the mix of short and long links that
// a small world needs, from the first minute rather than after path folding has had its
// time. Announcing through a seed rather than a peer reaches the whole network, not only the
// part this node already knows. A node calls it when it starts and now and then; the
// simulator calls it directly.
func (r *Router) Maintain(ctx context.Context) {
	r.mu.Lock()
	now := r.now()
	var stale []crypto.NodeID
	for id, p := range r.peers {
		if p.transient && p.announcing == 0 && now.Sub(p.connectedAt) > transientTime {
			stale = append(stale, id)
		}
	}
	n := len(r.peers)
	seeds := r.cfg.Seeds
	var seed *wire.NodeRef
	if len(seeds) > 0 {
		seed = seeds[r.rng.IntN(len(seeds))]
	}
	targets := []crypto.Location{r.loc}
	for range longLinks {
		d := minLinkLength * math.Pow(0.5/minLinkLength, r.rng.Float64())
		if r.rng.IntN(2) == 0 {
			d = -d
		}
		targets = append(targets, crypto.Location(math.Mod(float64(r.loc)+d+1, 1)))
	}
	r.mu.Unlock()
	for _, id := range stale {
		r.t.Disconnect(id) // a seed's newcomer that did not announce
	}
	if !r.cfg.Opennet || r.cfg.SeedNode || r.cfg.Connect == nil || seed == nil || 2*n >= r.cfg.MaxPeers {
		return
	}
	if r.cfg.Ref != nil && seed.ID() == r.cfg.Ref().ID() {
		return
	}
	if err := r.cfg.Connect(ctx, seed); err != nil {
		r.log.Debug("cannot reach seed", "seed", seed.ID(), "err", err)
		return
	}
	var wg sync.WaitGroup
	for i, target := range targets {
		want := 1 // a long link
		if i == 0 {
			want = r.cfg.MaxPeers // near neighbours: as many as offer
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Announce(ctx, seed.ID(), target, want)
		}()
	}
	wg.Wait()
}

// Announcing for long links (spec §18.8).
const (
	longLinks     = 2    // announcements to far targets per Maintain that announces
	minLinkLength = 1e-4 // the shortest offset drawn: about the spacing of 10,000 nodes
)

// Announce introduces this node to the network through a connected peer (opennet
// bootstrap): an announcement travels towards target, nodes along the way that want a peer
// answer with their noderefs, and this node links to the last want of them (those that
// answered from nearest the target). It returns how many offers it received.
func (r *Router) Announce(ctx context.Context, via crypto.NodeID, target crypto.Location, want int) (int, error) {
	if r.cfg.Ref == nil {
		return 0, ErrNoPeers
	}
	ref := r.cfg.Ref()
	r.mu.Lock()
	id := r.newIDLocked()
	r.mu.Unlock()
	w, done := r.expect(via, id)
	defer done()
	if err := r.send(via, &wire.Announcement{ID: id, HTL: announceHTL, Target: target, Ref: ref}); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var offers []*wire.NodeRef
	take := func(m wire.Message) {
		if o, ok := m.(*wire.AnnouncementReply); ok {
			offers = append(offers, o.Ref)
		}
	}
loop:
	for {
		select {
		case m := <-w.notes:
			take(m)
		case <-w.end:
			// Offers that came before the end may still be queued.
			for len(w.notes) > 0 {
				take(<-w.notes)
			}
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	for _, o := range offers[max(0, len(offers)-want):] {
		r.considerOffer(o)
	}
	return len(offers), nil
}

// handleAnnouncement relays an announcement towards its target, answering it first with this
// node's own noderef if this node wants the newcomer as a peer. Offers from further on are
// passed back. Like a request, an announcement backtracks: a node with no route onward answers
// RouteNotFound with the HTL it has left, and the node before it tries its next peer with that
// HTL; it ends with DataNotFound when its HTL runs out.
func (r *Router) handleAnnouncement(from crypto.NodeID, m *wire.Announcement) {
	defer r.wg.Done()
	defer r.release(from)
	newcomer := m.Ref.ID()
	r.mu.Lock()
	if p := r.peers[from]; p != nil && p.transient {
		p.announcing++
	}
	r.mu.Unlock()
	if r.cfg.Ref != nil && newcomer != from && r.WantsPeer(newcomer) {
		r.send(from, &wire.AnnouncementReply{ID: m.ID, Ref: r.cfg.Ref()})
	}
	tried := map[crypto.NodeID]bool{from: true, newcomer: true}
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	defer cancel()
	htl := m.HTL
	var end wire.Message = &wire.DataNotFound{ID: m.ID}
	for htl > 1 {
		now := r.now()
		r.mu.Lock()
		next := choosePeer(r.peerListLocked(), m.Target, func(p *peer) bool { return tried[p.id] }, now)
		r.mu.Unlock()
		if next == nil {
			end = &wire.RouteNotFound{ID: m.ID, HTL: htl}
			break
		}
		tried[next.id] = true
		w, done := r.expect(next.id, m.ID)
		if r.send(next.id, &wire.Announcement{ID: m.ID, HTL: htl - 1, Target: m.Target, Ref: m.Ref}) != nil {
			done()
			continue
		}
		reply := r.relayAnnouncementReplies(ctx, from, w)
		done()
		if rnf, ok := reply.(*wire.RouteNotFound); ok {
			htl = min(htl, rnf.HTL)
			continue // a dead end: try the next peer with the HTL left
		}
		if reply == nil || reply.Type() == wire.TypeDataNotFound {
			break // the HTL ran out downstream, or the next hop went silent
		}
		// RejectedLoop or RejectedOverload: try another peer.
	}
	r.send(from, end)
	r.mu.Lock()
	p := r.peers[from]
	transient := p != nil && p.transient
	if transient {
		p.announcing--
	}
	r.mu.Unlock()
	if transient {
		// A seed's link to a newcomer was for this announcement only. It is closed after a
		// while, not at once: closing a link drops what is still queued on it, and the
		// announcement's last offers and its end are.
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			t := time.NewTimer(transientLinger)
			defer t.Stop()
			select {
			case <-t.C:
				r.mu.Lock()
				p := r.peers[from]
				last := p != nil && p.transient && p.announcing == 0
				r.mu.Unlock()
				if last {
					r.t.Disconnect(from)
				}
			case <-r.ctx.Done():
			}
		}()
	}
}

// relayAnnouncementReplies passes offers back until the next hop ends, and returns the
// message it ended with (nil if it went silent or its link dropped).
func (r *Router) relayAnnouncementReplies(ctx context.Context, to crypto.NodeID, w *waiter) wire.Message {
	relay := func(m wire.Message) {
		if o, ok := m.(*wire.AnnouncementReply); ok {
			r.send(to, &wire.AnnouncementReply{ID: o.ID, Ref: o.Ref})
		}
	}
	for {
		select {
		case m := <-w.notes:
			relay(m)
		case m := <-w.end:
			for len(w.notes) > 0 {
				relay(<-w.notes)
			}
			if _, gone := m.(*peerGone); gone {
				return nil
			}
			return m
		case <-ctx.Done():
			return nil
		}
	}
}

// locationLoop tells peers this node's location and its peers' locations whenever they
// change (FOAF routing, spec §18.3), gathering changes for LocationUpdateDelay.
func (r *Router) locationLoop() {
	defer r.wg.Done()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.kick:
		}
		if d := r.cfg.LocationUpdateDelay; d > 0 {
			select {
			case <-r.ctx.Done():
				return
			case <-time.After(d):
			}
		}
		r.mu.Lock()
		if !r.locDirty {
			r.mu.Unlock()
			continue
		}
		r.locDirty = false
		update := r.locationUpdateLocked()
		ids := make([]crypto.NodeID, 0, len(r.peers))
		for id, p := range r.peers {
			if !p.transient {
				ids = append(ids, id)
			}
		}
		r.mu.Unlock()
		for _, id := range ids {
			r.send(id, update)
		}
	}
}

func (r *Router) kickLocationUpdate() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// locationUpdateLocked builds the LocationUpdate describing this node now.
func (r *Router) locationUpdateLocked() *wire.LocationUpdate {
	u := &wire.LocationUpdate{Location: r.loc}
	for _, p := range r.peers {
		if p.routable() && len(u.PeerLocations) < wire.MaxPeerLocations {
			u.PeerLocations = append(u.PeerLocations, p.loc)
		}
	}
	return u
}

// peerLocation records a peer's location and its neighbours' locations. This node's own
// location is left out of the neighbours: routing to a peer to reach this node would loop.
func (r *Router) peerLocation(from crypto.NodeID, m *wire.LocationUpdate) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.peers[from]
	if p == nil || !m.Location.Valid() {
		return
	}
	changed := p.loc != m.Location
	p.loc = m.Location
	p.foaf = p.foaf[:0]
	for _, l := range m.PeerLocations {
		if l.Valid() && l != r.loc && len(p.foaf) < MaxFOAF {
			p.foaf = append(p.foaf, l)
		}
	}
	if changed {
		r.locDirty = true
		r.kickLocationUpdate()
	}
}
