package routing

import (
	"fmt"
	"math"
	"slices"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// MaxFOAF bounds how many of a peer's neighbours' locations are kept for friend-of-a-friend
// routing (spec §18.3).
const MaxFOAF = 100

// peer is what routing knows about one connected peer. The fields are guarded by the
// Router's peers part; what the peer may start here is apart, in the load part (peerLoad).
type peer struct {
	id          crypto.NodeID
	loc         crypto.Location
	foaf        []crypto.Location // the peer's own neighbours' locations, from LocationUpdate
	coins       linkCoins
	connectedAt time.Time
	joinedAt    uint64 // the router's completed-request count when the peer connected
	darknet     bool   // a friend: kept whatever it does, and a partner for location swaps
	transient   bool   // a seed's link to a newcomer, for its announcement only: not routed through
	announcing  int    // a seed's: the transient peer's announcements in progress
	ref         *wire.NodeRef

	backoffUntil time.Time     // after RejectedOverload or a timeout: not chosen until then
	backoff      time.Duration // current backoff step, doubled on each overload, capped
	silent       bool          // the backoff is for a timeout, not an overload
	awaiting     int           // requests and inserts sent to it and not yet accepted or answered

	served      int       // requests this peer answered with data
	lastSuccess time.Time // when it last did; opennet drops the peer idle longest
	badBlocks   int       // blocks that failed verification: a few and the peer is dropped
}

// routable reports whether requests may be routed through p: its location is known and it is
// not a seed's passing newcomer.
func (p *peer) routable() bool { return p.loc.Valid() && !p.transient }

// routeDistance is how close routing through p gets to target: the nearer of the peer's own
// location and those of its neighbours (friend-of-a-friend routing, spec §18.3).
func (p *peer) routeDistance(target crypto.Location) float64 {
	d := p.loc.Distance(target)
	for _, l := range p.foaf {
		d = math.Min(d, l.Distance(target))
	}
	return d
}

// choosePeer returns the peer to forward to: the one that gets closest to target among those
// not excluded and not backed off, or nil if none is left. Ties break by node ID so that the
// choice is deterministic.
func choosePeer(peers []*peer, target crypto.Location, excluded func(*peer) bool, now time.Time) *peer {
	return closestPeer(peers, target, excluded, now, (*peer).routeDistance)
}

// choosePeerByLocation is choosePeer by the peers' own locations alone, without FOAF.
func choosePeerByLocation(peers []*peer, target crypto.Location, excluded func(*peer) bool, now time.Time) *peer {
	return closestPeer(peers, target, excluded, now, func(p *peer, t crypto.Location) float64 { return p.loc.Distance(t) })
}

func closestPeer(peers []*peer, target crypto.Location, excluded func(*peer) bool, now time.Time, distance func(*peer, crypto.Location) float64) *peer {
	var best *peer
	bestD := math.Inf(1)
	for _, p := range peers {
		if !p.routable() || excluded(p) || now.Before(p.backoffUntil) {
			continue
		}
		// Ties are common with friend-of-a-friend distances: a node near the target is a
		// neighbour of several peers, and may be a peer itself. Among peers that reach the
		// same distance, the one that is nearest the target itself goes first (the node in
		// question rather than a neighbour of it, a hop saved), then the lowest ID.
		d := distance(p, target)
		if d < bestD || d == bestD && best != nil && nearerTie(p, best, target) {
			best, bestD = p, d
		}
	}
	return best
}

// nearerTie orders two peers at the same route distance: nearer the target by their own
// location, then lower ID.
func nearerTie(p, q *peer, target crypto.Location) bool {
	if dp, dq := p.loc.Distance(target), q.loc.Distance(target); dp != dq {
		return dp < dq
	}
	return slices.Compare(p.id[:], q.id[:]) < 0
}

// Backoff steps after an overload or timeout (spec §18.7): short, so a user never waits
// minutes for a peer that was only briefly busy.
const (
	minBackoff = 500 * time.Millisecond
	maxBackoff = 8 * time.Second
)

// defaultMaxAwaiting is Config.MaxAwaiting's default: how many requests and inserts may wait
// for a peer's Accepted at once. A live peer accepts within a round trip, so only a peer that
// is silent or far behind reaches it; without the cap, every request routed to a peer that
// has stopped answering would wait out AcceptTimeout there before the first timeout backed it
// off, and under load that is thousands of requests held for seconds, each holding its place
// at every node before it.
const defaultMaxAwaiting = 8

// backOff marks p busy: not chosen until now + its current step, which doubles up to the cap.
func (p *peer) backOff(now time.Time) {
	switch {
	case p.backoff == 0:
		p.backoff = minBackoff
	case p.backoff < maxBackoff:
		p.backoff = min(2*p.backoff, maxBackoff)
	}
	p.backoffUntil = now.Add(p.backoff)
}

// succeeded resets p's backoff after it answered.
func (p *peer) succeeded() {
	p.backoff, p.silent = 0, false
	p.backoffUntil = time.Time{}
}

// peerListLocked lists the peers. Callers hold peers.
func (r *Router) peerListLocked() []*peer {
	out := make([]*peer, 0, len(r.peers.byID))
	for _, p := range r.peers.byID {
		out = append(out, p)
	}
	return out
}

// backOff marks p busy after it refused a request for overload or did not answer in time.
// An overload also marks this node congested for a while (fair sharing, admit).
func (r *Router) backOff(p *peer, overload bool) {
	now := r.now()
	r.peers.Lock()
	p.backOff(now)
	p.silent = !overload
	r.peers.Unlock()
	if overload {
		r.congested(now)
	}
}

// checkBlock verifies a block a peer sent. A peer that sends bad blocks is backed off and,
// after a few, disconnected: no bad byte goes further than the node that received it.
func (r *Router) checkBlock(p *peer, kt crypto.KeyType, rk crypto.RoutingKey, gotKT crypto.KeyType, block []byte) error {
	err := r.cfg.VerifyBlock(kt, rk, block)
	if err == nil && gotKT != kt {
		err = fmt.Errorf("reply of key type %v to a %v request", gotKT, kt)
	}
	now := r.now()
	if err == nil {
		r.peers.Lock()
		p.served++
		p.lastSuccess = now
		p.succeeded()
		r.peers.Unlock()
		return nil
	}
	r.trace(Event{Kind: EventBadBlock, Peer: p.id, Key: rk})
	r.log.Warn("peer sent a block that does not verify", "peer", p.id, "err", err)
	r.counters.BadBlocks.Add(1)
	r.peers.Lock()
	p.badBlocks++
	drop := p.badBlocks >= maxBadBlocks
	p.backOff(now)
	if drop {
		r.peers.refused[p.id] = now.Add(refuseTime)
	}
	r.peers.Unlock()
	if drop {
		r.log.Warn("disconnecting peer: it keeps sending blocks that do not verify", "peer", p.id)
		r.t.Disconnect(p.id)
	}
	return err
}

// maxBadBlocks is how many unverifiable blocks a peer may send before it is disconnected.
// More than one, so that a single bit flip on a friend's disk does not cost the friendship.
const maxBadBlocks = 3

// refuseTime is how long a peer disconnected for bad blocks is refused: its links are closed
// as they come up, and a node does not dial it (Refuses). Without it a friend that corrupts
// blocks would be back at the next redial, three fresh bad blocks to spend each time. Not
// for ever: a friend whose disk went bad may mend it.
const refuseTime = time.Hour

// refuse refuses id as a peer for refuseTime from now.
func (r *Router) refuse(id crypto.NodeID, now time.Time) {
	r.peers.Lock()
	defer r.peers.Unlock()
	r.peers.refused[id] = now.Add(refuseTime)
}

// Refuses reports whether this node refuses id as a peer: less than an hour ago it was
// disconnected for sending blocks that do not verify, for flooding its link or for breaking
// the protocol. A node neither dials nor accepts it.
func (r *Router) Refuses(id crypto.NodeID) bool {
	r.peers.Lock()
	defer r.peers.Unlock()
	return r.refusesLocked(id)
}

// refusesLocked is Refuses for callers that hold peers.
func (r *Router) refusesLocked(id crypto.NodeID) bool {
	until, ok := r.peers.refused[id]
	if ok && !r.now().Before(until) {
		delete(r.peers.refused, id)
		return false
	}
	return ok
}
