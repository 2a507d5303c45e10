package routing

import (
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// Admission and load (spec §18.5): what a node takes from each peer, and when it refuses.
// The state is the Router's load part.

// Fair sharing and refusals.
const (
	// refusalRate and refusalBurst bound the requests a peer may send that are refused for
	// overload. A node backs a peer off after RejectedOverload (0.5 s at first), so an
	// honest peer sends only what it already had on the way, a window or two; a peer that
	// goes on sending at full speed past the refusals is flooding, and is disconnected and
	// refused for refuseTime, as one that sends bad blocks is.
	refusalRate  = 200
	refusalBurst = 2000

	// fairShare is how many requests and inserts a peer may always have in progress here,
	// busy or not: half of a download's window.
	fairShare = 16
	// congestionTime is how long a node counts as congested after one of its peers
	// answered it RejectedOverload.
	congestionTime = 2 * time.Second
)

// peerLoad is what one peer may start here and has in progress. Guarded by the Router's
// load part.
type peerLoad struct {
	active   int          // its requests, inserts and announcements in progress here
	bucket   *tokenBucket // its allowance of new ones
	refusals *tokenBucket // its allowance of ones refused for overload (admit)
}

// loadPeerUp gives a new peer its allowances.
func (r *Router) loadPeerUp(id crypto.NodeID, now time.Time) {
	r.load.Lock()
	defer r.load.Unlock()
	r.load.byPeer[id] = &peerLoad{
		bucket:   newTokenBucket(r.cfg.PeerRate, r.cfg.PeerBurst, now),
		refusals: newTokenBucket(refusalRate, refusalBurst, now),
	}
}

// loadPeerDown forgets a peer whose link went; its work in progress ends on its own.
func (r *Router) loadPeerDown(id crypto.NodeID) {
	r.load.Lock()
	defer r.load.Unlock()
	delete(r.load.byPeer, id)
}

// admit decides whether to take a new request, insert or announcement from a peer: a loop
// (an ID this node has seen) gets RejectedLoop, a peer over its rate or share or a node at
// its limit RejectedOverload. The checks come before any block is verified or any state
// allocated. Whether this node's user is fetching or inserting the same key makes no
// difference: the user's own request that comes back under another ID is relayed as any
// other, or a peer could ask for a key and learn from a refusal that the user is fetching it
// (spec §18.5).
func (r *Router) admit(from crypto.NodeID, id uint64) bool {
	if r.closed() {
		return false
	}
	r.load.Lock()
	_, linked := r.load.byPeer[from]
	r.load.Unlock()
	if !linked {
		return false
	}
	if !r.markSeen(id) {
		r.counters.RejectedLoop.Add(1)
		r.sendNow(from, failureReply(id, wire.ErrRejectedLoop))
		return false
	}
	now := r.now()
	r.load.Lock()
	p := r.load.byPeer[from]
	switch {
	case p == nil:
		r.load.Unlock()
		return false
	case r.load.active >= r.cfg.MaxActive || p.active >= r.peerShareLocked() || !p.bucket.take(now) || r.overShareLocked(p, now):
		flooding := !p.refusals.take(now)
		r.load.Unlock()
		r.counters.RejectedOverload.Add(1)
		if flooding {
			r.refuse(from, now)
			r.log.Warn("disconnecting peer: it keeps sending requests after RejectedOverload", "peer", from)
			r.t.Disconnect(from)
			return false
		}
		r.sendNow(from, failureReply(id, ErrOverloaded))
		return false
	}
	r.load.active++
	p.active++
	r.load.Unlock()
	return true
}

// admitOwn counts work of the node's own (taking an offered block, spec §18.6) against
// MaxActive, and reports whether there was room.
func (r *Router) admitOwn() bool {
	r.load.Lock()
	defer r.load.Unlock()
	if r.load.active >= r.cfg.MaxActive {
		return false
	}
	r.load.active++
	return true
}

// peerShareLocked is how many requests, inserts and announcements one peer may have in
// progress here at once: an eighth of MaxActive split evenly among the peers, and never less
// than a download's window (2·fairShare), which a stem carries whole from node to node. The
// limit counts work in progress, not work started: a peer's requests that end quickly make
// room for more at once, while one whose requests linger (a flood of keys nobody has, each
// walking its whole HTL) is held to its part of the node. Without it a peer could fill
// MaxActive in one burst before the node saw any sign of congestion, and every request so
// admitted is forwarded, so the burst would be multiplied along each path: what a flooder's
// neighbours let in, the whole network carries, about HTL times over. Callers hold load.
func (r *Router) peerShareLocked() int {
	return max(2*fairShare, r.cfg.MaxActive/(8*max(1, len(r.load.byPeer))))
}

// overShareLocked reports whether p must be refused to keep the node fair: while the node is
// congested (a peer refused its requests for overload lately, or half of MaxActive is in
// use), a peer that has more requests in progress here than fairShare and than any other
// peer gets RejectedOverload. A peer that floods its neighbours would otherwise take their
// whole allowance at their own peers, since the work a node forwards is charged there to the
// node, not to whoever sent it; with this rule the flooder is held to what the busiest honest
// peer gets, and honest peers are not held at all. Callers hold load.
func (r *Router) overShareLocked(p *peerLoad, now time.Time) bool {
	if p.active < fairShare || now.After(r.load.congested) && r.load.active < r.cfg.MaxActive/2 {
		return false
	}
	for _, o := range r.load.byPeer {
		if o != p && o.active >= p.active {
			return false
		}
	}
	return true
}

// release ends the work admit allowed for a request, insert or announcement from peer from
// (the zero ID for work of the node's own, admitOwn).
func (r *Router) release(from crypto.NodeID) {
	r.load.Lock()
	defer r.load.Unlock()
	r.load.active--
	if p := r.load.byPeer[from]; p != nil && p.active > 0 {
		p.active--
	}
}

// congested marks this node congested for a while after a peer refused it for load (fair
// sharing, overShareLocked).
func (r *Router) congested(now time.Time) {
	r.load.Lock()
	defer r.load.Unlock()
	r.load.congested = now.Add(congestionTime)
}

// active is how many requests, inserts and announcements are in progress here.
func (r *Router) active() int {
	r.load.Lock()
	defer r.load.Unlock()
	return r.load.active
}

// tokenBucket limits a rate: it holds up to burst tokens and gains rate tokens a second.
// Guarded by the Router's load part.
type tokenBucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

func newTokenBucket(rate, burst float64, now time.Time) *tokenBucket {
	return &tokenBucket{rate: rate, burst: burst, tokens: burst, last: now}
}

// take spends one token if there is one.
func (b *tokenBucket) take(now time.Time) bool {
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(b.burst, b.tokens+dt*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
