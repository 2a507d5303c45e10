package routing

import (
	"context"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// An exchange is one message a walk sends to one peer and what comes back about it: first
// Accepted within AcceptTimeout (or an answer), then an answer that ends it, with notes in
// between (a path-folding offer, an announcement's offers). Replies find their exchange by
// the peer and the request ID they carry.

// pendingKey names an exchange: replies from peer about request id.
type pendingKey struct {
	peer crypto.NodeID
	id   uint64
}

// waiter receives the replies from one peer about one request, insert or announcement. The
// answer that ends the exchange has a slot of its own, so that no burst of other messages
// (offers from an announcement, say, or a hostile peer's flood) can crowd it out.
type waiter struct {
	notes chan wire.Message // Accepted, NodeRefOffer, AnnouncementReply; past capacity dropped
	end   chan wire.Message // the ending answer, or peerGone; only the first is kept
}

// peerGone is delivered to a waiting exchange when its peer's link drops.
type peerGone struct{ wire.Keepalive }

// isNote reports whether m informs an exchange without ending it.
func isNote(m wire.Message) bool {
	switch m.(type) {
	case *wire.Accepted, *wire.NodeRefOffer, *wire.AnnouncementReply:
		return true
	}
	return false
}

// deliver hands a reply to the exchange waiting for it; a reply nobody waits for is dropped.
func (r *Router) deliver(from crypto.NodeID, id uint64, m wire.Message) {
	r.walks.Lock()
	w := r.walks.pending[pendingKey{from, id}]
	r.walks.Unlock()
	if w == nil {
		return
	}
	ch := w.end
	if isNote(m) {
		ch = w.notes
	}
	select {
	case ch <- m:
	default:
		r.log.Debug("reply dropped: its waiter is full", "peer", from, "type", m.Type())
	}
}

// expect registers interest in replies from peer about id; the returned function
// unregisters it.
func (r *Router) expect(peer crypto.NodeID, id uint64) (*waiter, func()) {
	w := &waiter{notes: make(chan wire.Message, 16), end: make(chan wire.Message, 1)}
	k := pendingKey{peer, id}
	r.walks.Lock()
	r.walks.pending[k] = w
	r.walks.Unlock()
	return w, func() {
		r.walks.Lock()
		if r.walks.pending[k] == w {
			delete(r.walks.pending, k)
		}
		r.walks.Unlock()
	}
}

// exchanged is the outcome of one exchange with a peer.
type exchanged struct {
	reply wire.Message        // the answer; nil on timeout or a dropped link
	early *wire.NodeRef       // a path-folding offer that overtook its data on the link
	notes <-chan wire.Message // the registration's notes, still open, for a later offer
	done  func()              // unregisters it
}

// exchange sends m to a peer and waits for its answer: first Accepted within AcceptTimeout
// (or an answer), then an answer before ctx ends. Notes other than Accepted and a
// path-folding offer go to note as they come, and those still queued when the answer comes.
// The registration stays open so that a path-folding offer after data can still be read; the
// caller calls done.
func (r *Router) exchange(ctx context.Context, to crypto.NodeID, m wire.Message, note func(wire.Message)) exchanged {
	r.peers.Lock()
	p := r.peers.byID[to]
	if p != nil {
		p.awaiting++
	}
	r.peers.Unlock()
	return r.exchangeHeld(ctx, to, p, m, note)
}

// exchangeHeld is exchange for a message whose place among p's awaiting messages was taken
// when p was chosen (nextHop), under the same lock as the check against MaxAwaiting: walks
// that chose p at the same moment cannot all pass the check before any of them counts. The
// place is given back when p accepts or answers, or at once if the message is not sent.
// p may be nil (a peer gone since).
func (r *Router) exchangeHeld(ctx context.Context, to crypto.NodeID, p *peer, m wire.Message, note func(wire.Message)) exchanged {
	w, done := r.expect(to, messageID(m))
	x := exchanged{notes: w.notes, done: done}
	if err := r.send(to, m); err != nil {
		r.unawait(p)
		return x
	}
	accepted := false
	accept := func() {
		if !accepted {
			r.unawait(p)
		}
		accepted = true
	}
	take := func(n wire.Message) {
		switch n := n.(type) {
		case *wire.Accepted:
			accept()
		case *wire.NodeRefOffer:
			x.early = n.Ref
		default:
			note(n)
		}
	}
	acceptTimer := time.NewTimer(r.cfg.AcceptTimeout)
	defer acceptTimer.Stop()
	defer accept()
	for {
		select {
		case n := <-w.notes:
			take(n)
		case reply := <-w.end:
			// Notes that came before the answer may still be queued.
			for len(w.notes) > 0 {
				take(<-w.notes)
			}
			if _, gone := reply.(*peerGone); !gone {
				x.reply = reply
			}
			return x
		case <-acceptTimer.C:
			if !accepted {
				r.counters.Timeouts.Add(1)
				return x
			}
		case <-ctx.Done():
			return x
		}
	}
}

// unawait gives back a place p's awaiting messages held (exchangeHeld).
func (r *Router) unawait(p *peer) {
	if p == nil {
		return
	}
	r.peers.Lock()
	p.awaiting--
	r.peers.Unlock()
}

// idOf is the request ID a message carries: a request's, insert's or announcement's own, or
// the one a reply answers. Messages without one (LocationUpdate, swaps' own) report false.
func idOf(m wire.Message) (uint64, bool) {
	switch m := m.(type) {
	case *wire.Request:
		return m.ID, true
	case *wire.Insert:
		return m.ID, true
	case *wire.Announcement:
		return m.ID, true
	case *wire.DataReply:
		return m.ID, true
	case *wire.Accepted:
		return m.ID, true
	case *wire.DataNotFound:
		return m.ID, true
	case *wire.RouteNotFound:
		return m.ID, true
	case *wire.RejectedLoop:
		return m.ID, true
	case *wire.RejectedOverload:
		return m.ID, true
	case *wire.InsertReply:
		return m.ID, true
	case *wire.InsertCollision:
		return m.ID, true
	case *wire.NodeRefOffer:
		return m.ID, true
	case *wire.AnnouncementReply:
		return m.ID, true
	}
	return 0, false
}

// messageID is idOf for the messages that always carry one.
func messageID(m wire.Message) uint64 {
	id, ok := idOf(m)
	if !ok {
		panic("routing: messageID of a message without a request ID")
	}
	return id
}
