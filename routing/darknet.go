package routing

import (
	"context"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// Darknet location swapping (spec §18.9). A swap starts at a node A, walks swapWalkHTL random
// hops to a node B, and then:
//
//	A → … → B  SwapRequest{commitment to A's random value}
//	B → … → A  SwapReply{B's random value, location, neighbours' locations}
//	A → … → B  SwapCommit{A's random value, location, neighbours' locations}
//
// Both sides then know both random values, derive the same coin and make the same
// Metropolis–Hastings decision. The commitment stops A from choosing its value after seeing
// B's. Nodes on the walk only relay.

const (
	swapWalkHTL = 10
	// swapTimeout bounds one swap; a node takes part in one swap at a time.
	swapTimeout = 20 * time.Second
	// swapInterval is how often a darknet node starts a swap.
	swapInterval = 10 * time.Second
)

// swapState is one swap this node takes part in, as initiator, relay or responder. It does
// not change once made; the Router's swaps part guards the map that holds it.
type swapState struct {
	prev, next crypto.NodeID // relays: where the walk came from and went; responder: prev only
	responder  bool
	initiator  bool
	random     [32]byte // this node's random value (initiator and responder)
	commitment [32]byte // the initiator's commitment (responder)
	loc        crypto.Location
	peerLocs   []crypto.Location
	expires    time.Time
	reply      chan wire.Message // initiator: where the reply (or a refusal) arrives
}

func (r *Router) swapLoop() {
	t := time.NewTicker(r.cfg.SwapInterval)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(r.ctx, swapTimeout)
			r.Swap(ctx)
			cancel()
		}
	}
}

// busyLocked reports whether this node is already in a swap as initiator or responder, and
// drops swaps that have expired. Callers hold swaps.
func (r *Router) busyLocked(now time.Time) bool {
	busy := false
	for id, s := range r.swaps.byID {
		if now.After(s.expires) {
			delete(r.swaps.byID, id)
			continue
		}
		if s.initiator || s.responder {
			busy = true
		}
	}
	return busy
}

// Swap runs one swap attempt from this node and reports whether its location changed. With
// a small probability it instead takes a fresh random location (the defence against location
// pulling).
func (r *Router) Swap(ctx context.Context) bool {
	now := r.now()
	r.peers.Lock()
	peers := r.peerListLocked()
	r.peers.Unlock()
	if len(peers) == 0 {
		return false
	}
	if r.randFloat64() < randomizeProbability {
		r.setLocation(crypto.Location(r.randFloat64()), nil)
		return true
	}
	first := peers[r.randIntN(len(peers))]
	id := r.newID()
	s := &swapState{initiator: true, next: first.id, expires: now.Add(swapTimeout), reply: make(chan wire.Message, 1), random: r.randBytes32()}
	r.swaps.Lock()
	if r.busyLocked(now) {
		r.swaps.Unlock()
		return false
	}
	r.swaps.byID[id] = s
	r.swaps.Unlock()
	defer func() {
		r.swaps.Lock()
		delete(r.swaps.byID, id)
		r.swaps.Unlock()
	}()

	if r.send(first.id, &wire.SwapRequest{ID: id, HTL: swapWalkHTL, Commitment: swapCommitment(s.random)}) != nil {
		return false
	}
	var reply *wire.SwapReply
	select {
	case m := <-s.reply:
		var ok bool
		if reply, ok = m.(*wire.SwapReply); !ok {
			return false // refused on the way or at the end: the walk met a loop or a busy node
		}
	case <-ctx.Done():
		return false
	}
	r.peers.Lock()
	myLoc, myPeers := r.peers.loc, r.peerLocationsLocked()
	r.peers.Unlock()
	r.send(first.id, &wire.SwapCommit{ID: id, Random: s.random, Location: myLoc, PeerLocations: myPeers})
	if !plausiblePeerLocations(reply.Location, reply.PeerLocations) {
		return false
	}
	coin := swapCoin(s.random, reply.Random)
	if coin >= swapProbability(myLoc, myPeers, reply.Location, reply.PeerLocations) {
		return false
	}
	if !r.setLocation(reply.Location, &myLoc) {
		return false
	}
	r.trace(Event{Kind: EventSwap, ID: id})
	return true
}

// setLocation moves this node to l, if it is still at from (nil: wherever it is), and reports
// whether it moved; its peers hear of it through the location loop.
func (r *Router) setLocation(l crypto.Location, from *crypto.Location) bool {
	r.peers.Lock()
	if from != nil && r.peers.loc != *from {
		r.peers.Unlock()
		return false
	}
	r.peers.loc = l
	r.peers.locDirty = true
	r.peers.Unlock()
	r.counters.Swaps.Add(1)
	r.kickLocationUpdate()
	return true
}

// peerLocationsLocked lists the locations of the routable peers. Callers hold peers.
func (r *Router) peerLocationsLocked() []crypto.Location {
	out := make([]crypto.Location, 0, len(r.peers.byID))
	for _, p := range r.peers.byID {
		if p.routable() && len(out) < wire.MaxPeerLocations {
			out = append(out, p.loc)
		}
	}
	return out
}

// randBytes32 draws a swap's random value.
func (r *Router) randBytes32() (b [32]byte) {
	r.rng.Lock()
	defer r.rng.Unlock()
	for i := range b {
		b[i] = byte(r.rng.r.Uint32())
	}
	return b
}

// handleSwapRequest relays a swap's walk to a random peer, or ends it here and answers.
func (r *Router) handleSwapRequest(from crypto.NodeID, m *wire.SwapRequest) {
	now := r.now()
	r.peers.Lock()
	_, linked := r.peers.byID[from]
	var candidates []*peer
	for _, p := range r.peers.byID {
		if p.id != from {
			candidates = append(candidates, p)
		}
	}
	loc, peerLocs := r.peers.loc, r.peerLocationsLocked()
	r.peers.Unlock()
	if r.cfg.Opennet || !linked || !r.markSeen(m.ID) {
		r.sendNow(from, failureReply(m.ID, wire.ErrRejectedLoop))
		return
	}
	if m.HTL > 1 && len(candidates) > 0 {
		next := candidates[r.randIntN(len(candidates))]
		r.swaps.Lock()
		r.swaps.byID[m.ID] = &swapState{prev: from, next: next.id, expires: now.Add(swapTimeout)}
		r.swaps.Unlock()
		r.sendNow(next.id, &wire.SwapRequest{ID: m.ID, HTL: m.HTL - 1, Commitment: m.Commitment})
		return
	}
	s := &swapState{prev: from, responder: true, commitment: m.Commitment, loc: loc, peerLocs: peerLocs, expires: now.Add(swapTimeout), random: r.randBytes32()}
	r.swaps.Lock()
	if r.busyLocked(now) {
		r.swaps.Unlock()
		r.sendNow(from, failureReply(m.ID, ErrOverloaded))
		return
	}
	r.swaps.byID[m.ID] = s
	r.swaps.Unlock()
	r.sendNow(from, &wire.SwapReply{ID: m.ID, Random: s.random, Location: s.loc, PeerLocations: s.peerLocs})
}

// deliverSwapReply passes a reply, or a refusal (RejectedLoop, RejectedOverload), back towards
// the initiator, or hands it to the initiator. It reports whether id was a swap's. A relay
// forgets a swap that was refused.
func (r *Router) deliverSwapReply(from crypto.NodeID, id uint64, m wire.Message) bool {
	r.swaps.Lock()
	s := r.swaps.byID[id]
	if s == nil || s.next != from {
		r.swaps.Unlock()
		return false
	}
	_, refused := m.(*wire.SwapReply)
	refused = !refused
	if refused && !s.initiator {
		delete(r.swaps.byID, id)
	}
	r.swaps.Unlock()
	if s.initiator {
		select {
		case s.reply <- m:
		default:
		}
		return true
	}
	r.sendNow(s.prev, m)
	return true
}

// handleSwapCommit passes a commit on towards the responder, or, at the responder, completes
// the swap.
func (r *Router) handleSwapCommit(from crypto.NodeID, m *wire.SwapCommit) {
	r.swaps.Lock()
	s := r.swaps.byID[m.ID]
	if s == nil || s.prev != from {
		r.swaps.Unlock()
		return
	}
	delete(r.swaps.byID, m.ID)
	r.swaps.Unlock()
	if !s.responder {
		r.sendNow(s.next, m)
		return
	}
	if swapCommitment(m.Random) != s.commitment || !plausiblePeerLocations(m.Location, m.PeerLocations) {
		return
	}
	coin := swapCoin(m.Random, s.random)
	if coin >= swapProbability(m.Location, m.PeerLocations, s.loc, s.peerLocs) {
		return
	}
	// Only if this node has not moved since it answered: the decision was made for there.
	if r.setLocation(m.Location, &s.loc) {
		r.trace(Event{Kind: EventSwap, ID: m.ID})
	}
}
