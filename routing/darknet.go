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

// swapState is one swap this node takes part in, as initiator, relay or responder.
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
	defer r.wg.Done()
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
// drops swaps that have expired.
func (r *Router) busyLocked(now time.Time) bool {
	busy := false
	for id, s := range r.swaps {
		if now.After(s.expires) {
			delete(r.swaps, id)
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
	r.mu.Lock()
	if r.busyLocked(now) || len(r.peers) == 0 {
		r.mu.Unlock()
		return false
	}
	if r.rng.Float64() < randomizeProbability {
		r.setLocationLocked(crypto.Location(r.rng.Float64()))
		r.mu.Unlock()
		r.kickLocationUpdate()
		return true
	}
	peers := r.peerListLocked()
	first := peers[r.rng.IntN(len(peers))]
	id := r.newIDLocked()
	s := &swapState{initiator: true, next: first.id, expires: now.Add(swapTimeout), reply: make(chan wire.Message, 1)}
	for i := range s.random {
		s.random[i] = byte(r.rng.Uint32())
	}
	r.swaps[id] = s
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.swaps, id)
		r.mu.Unlock()
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
	r.mu.Lock()
	myLoc, myPeers := r.loc, r.peerLocationsLocked()
	r.mu.Unlock()
	r.send(first.id, &wire.SwapCommit{ID: id, Random: s.random, Location: myLoc, PeerLocations: myPeers})
	if !plausiblePeerLocations(reply.Location, reply.PeerLocations) {
		return false
	}
	coin := swapCoin(s.random, reply.Random)
	if coin >= swapProbability(myLoc, myPeers, reply.Location, reply.PeerLocations) {
		return false
	}
	r.mu.Lock()
	r.setLocationLocked(reply.Location)
	r.mu.Unlock()
	r.kickLocationUpdate()
	r.trace(Event{Kind: EventSwap, ID: id})
	return true
}

// setLocationLocked moves this node; its peers hear of it through the location loop.
func (r *Router) setLocationLocked(l crypto.Location) {
	r.loc = l
	r.locDirty = true
	r.stats.Swaps++
}

func (r *Router) peerLocationsLocked() []crypto.Location {
	out := make([]crypto.Location, 0, len(r.peers))
	for _, p := range r.peers {
		if p.routable() && len(out) < wire.MaxPeerLocations {
			out = append(out, p.loc)
		}
	}
	return out
}

// handleSwapRequest relays a swap's walk to a random peer, or ends it here and answers.
func (r *Router) handleSwapRequest(from crypto.NodeID, m *wire.SwapRequest) {
	now := r.now()
	r.mu.Lock()
	if r.cfg.Opennet || r.peers[from] == nil || !r.seen.add(m.ID, now) {
		r.mu.Unlock()
		r.sendNow(from, &wire.RejectedLoop{ID: m.ID})
		return
	}
	if m.HTL > 1 {
		var candidates []*peer
		for _, p := range r.peers {
			if p.id != from {
				candidates = append(candidates, p)
			}
		}
		if len(candidates) > 0 {
			next := candidates[r.rng.IntN(len(candidates))]
			r.swaps[m.ID] = &swapState{prev: from, next: next.id, expires: now.Add(swapTimeout)}
			r.mu.Unlock()
			r.sendNow(next.id, &wire.SwapRequest{ID: m.ID, HTL: m.HTL - 1, Commitment: m.Commitment})
			return
		}
	}
	if r.busyLocked(now) {
		r.mu.Unlock()
		r.sendNow(from, &wire.RejectedOverload{ID: m.ID})
		return
	}
	s := &swapState{prev: from, responder: true, commitment: m.Commitment, loc: r.loc, peerLocs: r.peerLocationsLocked(), expires: now.Add(swapTimeout)}
	for i := range s.random {
		s.random[i] = byte(r.rng.Uint32())
	}
	r.swaps[m.ID] = s
	r.mu.Unlock()
	r.sendNow(from, &wire.SwapReply{ID: m.ID, Random: s.random, Location: s.loc, PeerLocations: s.peerLocs})
}

// deliverSwapReply passes a reply, or a refusal (RejectedLoop, RejectedOverload), back towards
// the initiator, or hands it to the initiator. It reports whether id was a swap's. A relay
// forgets a swap that was refused.
func (r *Router) deliverSwapReply(from crypto.NodeID, id uint64, m wire.Message) bool {
	r.mu.Lock()
	s := r.swaps[id]
	if s == nil || s.next != from {
		r.mu.Unlock()
		return false
	}
	_, refused := m.(*wire.SwapReply)
	refused = !refused
	if refused && !s.initiator {
		delete(r.swaps, id)
	}
	r.mu.Unlock()
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
	r.mu.Lock()
	s := r.swaps[m.ID]
	if s == nil || s.prev != from {
		r.mu.Unlock()
		return
	}
	delete(r.swaps, m.ID)
	if !s.responder {
		r.mu.Unlock()
		r.sendNow(s.next, m)
		return
	}
	if swapCommitment(m.Random) != s.commitment || r.loc != s.loc || !plausiblePeerLocations(m.Location, m.PeerLocations) {
		r.mu.Unlock()
		return
	}
	coin := swapCoin(m.Random, s.random)
	if coin >= swapProbability(m.Location, m.PeerLocations, s.loc, s.peerLocs) {
		r.mu.Unlock()
		return
	}
	r.setLocationLocked(m.Location)
	r.mu.Unlock()
	r.kickLocationUpdate()
	r.trace(Event{Kind: EventSwap, ID: m.ID})
}
