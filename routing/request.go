package routing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// offerWait is how long a relay waits, after passing data back, for the path-folding
// noderef that follows it (spec §18.7).
const offerWait = 2 * time.Second

// GetBlock fetches a block for this node's own user (fetch.BlockGetter). The local store is
// looked in first; otherwise the request goes out as this node's own, through the stem. What
// comes back is verified and returned, and not stored: a node keeps no trace of its own user's
// downloads in the shared store (spec §18.4).
//
// The request is walked as a relay walks one that reached it at HTL 18 (spec §18.2): no peer
// can tell the two apart. It has the request timeout of every request: if ctx ends first,
// GetBlock returns and the walk goes on as a relay's would, its answer unused. When it ends
// overloaded, the user asks again (ownRounds).
func (r *Router) GetBlock(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey) ([]byte, error) {
	if block, ok := r.cfg.Store.Get(kt, rk); ok {
		return block, nil
	}
	r.counters.LocalRequests.Add(1)
	round := func(ctx context.Context, id, tag uint64) outcome {
		return r.newWalk(&requestKind{}, nil, kt, rk, rk.Location(), id, wire.MaxHTL, tag, false).run(ctx)
	}
	if r.tunnels != nil && r.cfg.OwnTunnels {
		round = r.tunnelGet(kt, rk)
	}
	o, err := r.ownRounds(ctx, kt, rk, round)
	if err != nil {
		return nil, err
	}
	defer o.finish()
	if r.cfg.Opennet && r.cfg.Connect != nil {
		// Only opennet nodes fold paths; on darknet no offer comes, so none is awaited.
		if ref := o.awaitOffer(ctx); ref != nil {
			r.considerOffer(ref)
		}
	}
	return o.block, nil
}

// handleRequest serves a request from a peer on its own goroutine.
func (r *Router) handleRequest(from crypto.NodeID, m *wire.Request) {
	defer r.release(from)
	r.trace(Event{Kind: EventRequest, Peer: from, ID: m.ID, HTL: m.HTL, Key: m.Key, Timeout: m.Timeout})
	r.counters.Requests.Add(1)
	r.send(from, &wire.Accepted{ID: m.ID})

	ctx, cancel := context.WithTimeout(r.ctx, r.budget(m.HTL, m.Timeout))
	defer cancel()
	o := r.newWalk(&requestKind{}, &from, m.KeyType, m.Key, m.Key.Location(), m.ID, m.HTL, m.Stem, m.Tail).run(ctx)
	defer o.finish()

	r.completed.Add(1)
	switch {
	case o.err == nil:
		r.counters.Found.Add(1)
	default:
		r.counters.NotFound.Add(1)
		// A walk on the stem records nothing: its predecessor may be the originator, which
		// takes no offers (its user's call has ended), and the originator's own walk, which
		// has no predecessor, must leave the same trace as a relay's. Only a walk that came
		// below the stem, and that ran out for want of the block rather than for busy peers
		// or time, arms the quick answer: a key that failed because the network was busy
		// would otherwise be answered "not found" for a while after the load had passed.
		if m.HTL < wire.MaxHTL {
			armed := m.HTL
			if errors.Is(o.err, ErrOverloaded) || errors.Is(o.err, context.DeadlineExceeded) {
				armed = 0
			}
			r.failed.Lock()
			r.failed.table.record(failKey{m.KeyType, m.Key}, armed, &from, r.now())
			r.failed.Unlock()
		}
	}

	if o.err != nil {
		r.sendFailure(from, m.ID, o.err)
		return
	}
	r.sendReply(ctx, from, &wire.DataReply{KeyType: m.KeyType, ID: m.ID, Block: o.block})
	r.relayOffer(ctx, from, m.ID, &o)
}

// requestKind is the walk of a request (spec §18.3): it looks in the store where it starts
// routing by the key, and ends with the block or DataNotFound.
type requestKind struct{}

func (*requestKind) stems() bool                      { return true }
func (*requestKind) nextHTL(p *peer, htl uint8) uint8 { return p.coins.next(htl) }
func (*requestKind) excludes(crypto.NodeID) bool      { return false }
func (*requestKind) via() *crypto.NodeID              { return nil }
func (*requestKind) start(*walk) (outcome, bool)      { return outcome{}, false }
func (*requestKind) note(*walk, wire.Message)         {}
func (*requestKind) exhausted(*walk) outcome          { return outcome{err: ErrDataNotFound} }
func (*requestKind) message(w *walk, id uint64, htl uint8, stem uint64, timeout time.Duration) wire.Message {
	return &wire.Request{KeyType: w.kt, ID: id, HTL: htl, Tail: w.tail, Stem: stem, Key: w.key, Timeout: timeout}
}

// descend answers the request from this node's store, or at once with DataNotFound if the
// key failed here moments ago (spec §18.6). Otherwise, where no route leads closer, the
// request has reached the key's neighbourhood: from here it walks node to nearest node, the
// way an insert's tail placed its copies, so that it finds them even if the nearest node is
// gone.
func (*requestKind) descend(w *walk) (outcome, bool) {
	r := w.r
	if block, ok := r.cfg.Store.Get(w.kt, w.key); ok {
		r.trace(Event{Kind: EventFound, ID: w.id, Key: w.key})
		return outcome{block: block, source: true}, true
	}
	k := failKey{w.kt, w.key}
	r.failed.Lock()
	quick := r.failed.table.recentlyFailed(k, w.hops, r.now())
	if quick {
		r.failed.table.record(k, w.hops, w.from, r.now())
	}
	r.failed.Unlock()
	if quick {
		return outcome{err: ErrDataNotFound}, true
	}
	if !w.tail {
		r.peers.Lock()
		w.tail = !r.closerRouteLocked(w.target, w.from)
		r.peers.Unlock()
	}
	return outcome{}, false
}

// answer: data that verifies or DataNotFound end the request; a block that does not verify,
// or an answer no request expects, backs the peer off.
func (*requestKind) answer(w *walk, p *peer, x exchanged) (outcome, bool) {
	r := w.r
	if m, ok := x.reply.(*wire.DataReply); ok {
		if r.checkBlock(p, w.kt, w.key, m.KeyType, m.Block) != nil {
			return outcome{}, false
		}
		r.cacheReply(w, m.Block)
		return outcome{block: m.Block, offer: x.early, offers: x.notes, done: x.done}, true
	}
	switch err := wire.ReplyError(x.reply); {
	case errors.Is(err, ErrDataNotFound):
		return outcome{err: err}, true
	case err == nil && x.reply != nil:
		r.backOff(p, false)
	}
	return outcome{}, false
}

// ranOut: a request that ran out of peers because they were busy is answered overloaded, not
// RouteNotFound, so that the node before it tries again later rather than giving up the
// route (spec §18.5).
func (*requestKind) ranOut(w *walk, err error) outcome {
	switch {
	case err != nil:
		return outcome{err: fmt.Errorf("%w: %w", &wire.RouteNotFoundError{HTL: w.hops}, err)}
	case w.busy:
		return outcome{err: ErrOverloaded}
	}
	return routeNotFound(w.hops)
}

// cacheReply keeps a block that passed through on its way back, subject to the HTL rule: a
// node that received the request at HTL 17 or 18 may be next to its originator, and keeps
// nothing (spec §18.4). The node's own requests, which it holds at HTL 18 as a stem node
// does, are never cached. A tunnel's end, which walks from HTL 17, is three links from its
// originator and keeps what it found, as a relay below the stem does.
func (r *Router) cacheReply(w *walk, block []byte) {
	if w.htl > maxCacheHTLRequest && !w.atEnd {
		return
	}
	if err := r.cfg.Store.Cache(w.kt, w.key, block); err != nil {
		r.log.Debug("cache failed", "err", err)
		return
	}
	r.trace(Event{Kind: EventCached, ID: w.id, Key: w.key})
	r.blockArrived(w.kt, w.key)
}

// relayOffer passes the path-folding noderef back after data (spec §18.7). The node that had
// the data offers its own noderef; each hop replaces the one it relays with its own with
// probability 1/20, so the requester cannot tell whose it got.
func (r *Router) relayOffer(ctx context.Context, to crypto.NodeID, id uint64, o *outcome) {
	if !r.cfg.Opennet || r.cfg.Ref == nil {
		return
	}
	var ref *wire.NodeRef
	switch {
	case o.source:
		ref = r.cfg.Ref()
	default:
		ref = o.awaitOffer(ctx)
		replace := r.randIntN(20) == 0
		if ref == nil || replace {
			ref = r.cfg.Ref()
		}
	}
	if ref != nil {
		r.send(to, &wire.NodeRefOffer{ID: id, Ref: ref})
	}
}

// waitOffer waits a short while for a NodeRefOffer among a request's replies.
func waitOffer(ctx context.Context, ch <-chan wire.Message) *wire.NodeRef {
	t := time.NewTimer(offerWait)
	defer t.Stop()
	for {
		select {
		case m := <-ch:
			if o, ok := m.(*wire.NodeRefOffer); ok {
				return o.Ref
			}
		case <-t.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}
