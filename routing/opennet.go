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

// inGraceLocked reports whether p is still protected. Callers hold peers.
func (r *Router) inGraceLocked(p *peer, now time.Time) bool {
	return now.Sub(p.connectedAt) < graceTime && r.completed.Load()-p.joinedAt < r.graceRequests()
}

// WantsPeer reports whether this node would take id as a new opennet peer now: a transport
// asks it before accepting a stranger's link.
func (r *Router) WantsPeer(id crypto.NodeID) bool {
	if r.closed() {
		return false
	}
	r.peers.Lock()
	defer r.peers.Unlock()
	if _, ok := r.peers.byID[id]; ok {
		return true
	}
	return r.cfg.Opennet && !r.refusesLocked(id) && (r.cfg.SeedNode || len(r.peers.byID) < r.cfg.MaxPeers || r.droppableLocked() != nil)
}

// droppableLocked returns the opennet peer to drop for a newcomer, or nil if none is past its
// grace period. Callers hold peers.
func (r *Router) droppableLocked() *peer {
	now := r.now()
	if !r.peers.lastDrop.IsZero() && now.Sub(r.peers.lastDrop) < dropInterval {
		return nil
	}
	ring := r.ringNeighboursLocked()
	var worst *peer
	for _, p := range r.peers.byID {
		if p.darknet || p.transient || ring[p] || r.peers.guards[p.id] || r.inGraceLocked(p, now) {
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
// so dropping the peer idle longest would cut them first. Callers hold peers.
func (r *Router) ringNeighboursLocked() map[*peer]bool {
	var cw, ccw []*peer // nearest first, at most ringLinks each
	offset := func(p *peer) float64 { return math.Mod(float64(p.loc)-float64(r.peers.loc)+1, 1) }
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
	for _, p := range r.peers.byID {
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
	r.counters.PathFoldOffers.Add(1)
	r.peers.Lock()
	_, linked := r.peers.byID[id]
	// A full node connects only if a peer could make way; the peer goes once the new link is
	// up (PeerUp), so a connection that fails costs nothing.
	full := len(r.peers.byID) >= r.cfg.MaxPeers && r.droppableLocked() == nil
	r.peers.Unlock()
	if linked || full {
		return
	}
	if r.spawn(func() {
		ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
		defer cancel()
		if err := r.cfg.Connect(ctx, ref); err != nil {
			r.log.Debug("connecting to offered peer failed", "peer", id, "err", err)
		}
	}) {
		r.counters.PathFoldConnected.Add(1)
	}
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
	seeds := r.cfg.Seeds
	var seed *wire.NodeRef
	if len(seeds) > 0 {
		seed = seeds[r.randIntN(len(seeds))]
	}
	var offsets []float64
	for range longLinks {
		d := minLinkLength * math.Pow(0.5/minLinkLength, r.randFloat64())
		if r.randIntN(2) == 0 {
			d = -d
		}
		offsets = append(offsets, d)
	}
	now := r.now()
	r.peers.Lock()
	var stale []crypto.NodeID
	for id, p := range r.peers.byID {
		if p.transient && p.announcing == 0 && now.Sub(p.connectedAt) > transientTime {
			stale = append(stale, id)
		}
	}
	n := len(r.peers.byID)
	targets := []crypto.Location{r.peers.loc}
	for _, d := range offsets {
		targets = append(targets, crypto.Location(math.Mod(float64(r.peers.loc)+d+1, 1)))
	}
	r.peers.Unlock()
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
