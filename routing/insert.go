package routing

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// PutBlock inserts a block for this node's own user (insert.BlockPutter). The insert goes
// out through the stem and is routed towards the key until its HTL runs out, stored by the
// nodes nearest the key on the way (spec §18.4). It is walked as a relay walks an insert that
// reached it at HTL 18, in rounds as GetBlock's requests are (ownRounds): this node keeps a
// copy only where it is the key's sink, as it would for anyone's insert. An SSK whose slot
// already holds a different block fails with an error wrapping crypto.ErrCollision.
func (r *Router) PutBlock(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	if err := r.cfg.VerifyBlock(kt, rk, block); err != nil {
		return fmt.Errorf("insert: block does not verify against its key: %w", err)
	}
	if kt == crypto.SSK {
		if existing, ok := r.cfg.Store.Get(kt, rk); ok && !bytes.Equal(existing, block) {
			return fmt.Errorf("insert: %w", crypto.ErrCollision)
		}
	}
	r.counters.LocalInserts.Add(1)
	round := func(ctx context.Context, id, tag uint64) outcome {
		return r.newWalk(&insertKind{block: block}, nil, kt, rk, rk.Location(), id, wire.MaxHTL, tag, false).run(ctx)
	}
	if r.tunnels != nil && r.cfg.OwnTunnels {
		round = r.tunnelPut(kt, block)
	}
	_, err := r.ownRounds(ctx, kt, rk, round)
	switch {
	case errors.Is(err, crypto.ErrCollision):
		return fmt.Errorf("insert: %w", crypto.ErrCollision)
	case errors.Is(err, ErrRouteNotFound):
		// A RouteNotFound reaching the originator means that no node kept the block: a
		// node that kept it, or whose next hop did, answers InsertReply.
		return fmt.Errorf("insert: no node kept the block: %w", err)
	}
	return err
}

// handleInsert serves an insert from a peer on its own goroutine.
func (r *Router) handleInsert(from crypto.NodeID, m *wire.Insert) {
	defer r.release(from)
	r.trace(Event{Kind: EventInsert, Peer: from, ID: m.ID, HTL: m.HTL, Key: m.Key, Timeout: m.Timeout})
	r.counters.Inserts.Add(1)
	r.peers.Lock()
	p := r.peers.byID[from]
	r.peers.Unlock()
	if p == nil {
		return
	}
	// The block is verified before it goes anywhere: a bad insert is the sender's fault.
	if err := r.checkBlock(p, m.KeyType, m.Key, m.KeyType, m.Block); err != nil {
		return
	}
	r.send(from, &wire.Accepted{ID: m.ID})

	ctx, cancel := context.WithTimeout(r.ctx, r.budget(m.HTL, m.Timeout))
	defer cancel()
	o := r.newWalk(&insertKind{block: m.Block}, &from, m.KeyType, m.Key, m.Key.Location(), m.ID, m.HTL, m.Stem, m.Tail).run(ctx)
	if o.err != nil {
		r.sendFailure(from, m.ID, o.err)
		return
	}
	r.send(from, &wire.InsertReply{ID: m.ID})
}

// insertKind is the walk of an insert (spec §18.4): a verified block routed towards its key,
// kept by the sinks nearest it and cached on the way, ending when its HTL runs out.
type insertKind struct {
	block []byte
	// stored: this node keeps the block long-term. closer: a peer that took the insert to
	// its end (InsertReply) offered a closer route than this node; if none did, this node
	// is the nearest the insert could reach, a late sink. progressed: a peer took the
	// insert, if only to find no route; the walk did not end for load alone. sink: this
	// node is the key's sink, which it may be without having stored the block (its store
	// refused it, its disk full).
	stored, sink, closer, progressed bool
}

func (*insertKind) stems() bool                      { return true }
func (*insertKind) nextHTL(p *peer, htl uint8) uint8 { return p.coins.next(htl) }
func (*insertKind) excludes(crypto.NodeID) bool      { return false }
func (*insertKind) via() *crypto.NodeID              { return nil }
func (*insertKind) note(*walk, wire.Message)         {}
func (k *insertKind) message(w *walk, id uint64, htl uint8, stem uint64, timeout time.Duration) wire.Message {
	return &wire.Insert{KeyType: w.kt, ID: id, HTL: htl, Tail: w.tail, Stem: stem, Key: w.key, Timeout: timeout, Block: k.block}
}

// start: an SSK slot that holds another block ends the insert with the block that wins;
// otherwise a sink keeps the block, whatever HTL it came at (keepInserted).
func (k *insertKind) start(w *walk) (outcome, bool) {
	r := w.r
	if w.kt == crypto.SSK {
		if existing, ok := r.cfg.Store.Get(w.kt, w.key); ok && !bytes.Equal(existing, k.block) {
			return outcome{err: &wire.CollisionError{Existing: existing}}, true
		}
	}
	k.stored, k.sink = r.keepInserted(w, k.block)
	return outcome{}, false
}

// descend: a sink below the stem begins the tail, whose nodes keep copies (spec §18.4).
func (k *insertKind) descend(w *walk) (outcome, bool) {
	if k.sink && !w.tail {
		w.tail = true
		w.hops = min(w.hops, sinkTail+1)
		if !k.stored {
			// A sink whose store refused the block (its disk is full) hands it to the
			// nodes nearest the key all the same, under a new ID: the nodes the insert
			// visited on its way here deferred to this one and would refuse the old ID
			// as a loop, and the block would be kept nowhere.
			w.id = w.r.newID()
			w.tried = map[crypto.NodeID]bool{}
			if w.from != nil {
				w.tried[*w.from] = true
			}
		}
	}
	return outcome{}, false
}

// answer: InsertReply ends the insert (the peer took it to its end), and so does a collision
// with a block that verifies and differs; RouteNotFound counts as progress, and an answer no
// insert expects backs the peer off. RejectedLoop does not count: the peer that refuses the
// ID is where the insert has been already, most often a node before this one on its path,
// which waits for this walk's answer. Counted, it turned a walk whose only way on was a busy
// peer into RouteNotFound, answered back along the path to the originator, which gave up: in
// a small network under concurrent inserts the node nearest the key, busy for a moment,
// then kept nothing and no other node did (the nodes on the way deferred to it).
func (k *insertKind) answer(w *walk, p *peer, x exchanged) (outcome, bool) {
	r := w.r
	if _, ok := x.reply.(*wire.InsertReply); ok {
		// The peer took the insert to its end. (RouteNotFound would mean its route,
		// however close it looked, was a dead end.)
		k.closer = k.closer || r.closerRoute(p, w.target)
		return k.finish(w, outcome{}), true
	}
	var coll *wire.CollisionError
	switch err := wire.ReplyError(x.reply); {
	case errors.As(err, &coll):
		if w.kt == crypto.SSK && r.checkBlock(p, w.kt, w.key, w.kt, coll.Existing) == nil && !bytes.Equal(coll.Existing, k.block) {
			return outcome{err: err}, true
		}
	case errors.Is(err, ErrRouteNotFound):
		k.progressed = true
	case err == nil && x.reply != nil:
		r.backOff(p, false)
	}
	return outcome{}, false
}

// exhausted: the insert has gone as far as its HTL reaches.
func (k *insertKind) exhausted(w *walk) outcome { return k.finish(w, outcome{}) }

// ranOut: an insert that no peer took, because they were all busy, is answered overloaded;
// otherwise RouteNotFound, unless this node keeps it.
func (k *insertKind) ranOut(w *walk, err error) outcome {
	if w.busy && !k.progressed {
		return k.finish(w, outcome{err: ErrOverloaded})
	}
	return k.finish(w, routeNotFound(w.hops))
}

// finish is how an insert that went on from here ends here: a node that kept it, here or as
// a late sink (keepLate), answers that it is inserted even where it found no route further on.
func (k *insertKind) finish(w *walk, o outcome) outcome {
	if !k.stored && !k.closer {
		k.stored = w.r.keepLate(w, k.block)
	}
	if k.stored {
		return outcome{}
	}
	return o
}

// keepInserted applies the storage rule for an insert passing through (spec §18.4) and
// reports whether this node stored it long-term and whether it is the key's sink (which it
// may be without having stored it: its store can refuse, its disk full). A sink keeps it in its store whatever HTL it
// received it at: which node is a key's sink depends on where it sits, not on the path the
// insert took, so holding the block tells nothing of who inserted it. A node that is not a
// sink caches it if it received it at HTL 16 or below: a cache holds what passed through, and
// the nodes at 17 and 18 may be the originator's neighbours.
//
// A sink has no route onwards that is closer to the key (no peer other than the one the
// insert came from, nor any such peer's neighbour) and is closer than the node the insert
// came from: it is where the insert's descent towards the key ends. The comparison with the
// node it came from is left out on the stem and at the node after it (received at HTL 17 or
// 18), where that node was not routing by the key (it is a random hop of the stem, or the
// originator, which has no node before it).
//
// A sink below the stem passes the insert on marked as a tail, with sinkTail HTL, and every
// node of that tail, which walks from peer to nearest peer around the key, keeps a copy.
func (r *Router) keepInserted(w *walk, block []byte) (stored, sink bool) {
	target := w.target
	r.peers.Lock()
	me := r.peers.loc.Distance(target)
	sink = true
	switch {
	case w.tail:
		// In the tail after a sink: keep a copy.
	default:
		if w.from != nil && w.htl <= maxCacheHTLInsert {
			if prev := r.peers.byID[*w.from]; prev != nil && prev.loc.Valid() && prev.loc.Distance(target) <= me {
				sink = false
			}
		}
		if r.closerRouteLocked(target, w.from) {
			sink = false
		}
	}
	r.peers.Unlock()
	var err error
	switch {
	case sink && w.tail:
		// A tail's copy need not be on disk before the insert is answered: the sink's is
		// (spec §8.4), and the tail's commit is shared with the node's other writes.
		err = r.cfg.Store.StoreTail(w.kt, w.key, block)
		r.trace(Event{Kind: EventStored, ID: w.id, Key: w.key})
	case sink:
		err = r.cfg.Store.Store(w.kt, w.key, block)
		r.trace(Event{Kind: EventStored, ID: w.id, Key: w.key})
	case w.htl <= maxCacheHTLInsert || w.atEnd:
		err = r.cfg.Store.Cache(w.kt, w.key, block)
		r.trace(Event{Kind: EventCached, ID: w.id, Key: w.key})
	default:
		return false, false
	}
	if err != nil {
		r.log.Debug("keeping inserted block failed", "sink", sink, "err", err)
		return false, sink
	}
	r.blockArrived(w.kt, w.key)
	return sink, sink
}

// closerRouteLocked reports whether any routable peer but except (nil: none) offers a route
// to target closer than this node: the peer itself or one of its neighbours (FOAF). Without
// one, this node is where greedy routing towards target ends. Callers hold peers.
func (r *Router) closerRouteLocked(target crypto.Location, except *crypto.NodeID) bool {
	me := r.peers.loc.Distance(target)
	for _, p := range r.peers.byID {
		if (except == nil || p.id != *except) && p.routable() && p.routeDistance(target) < me {
			return true
		}
	}
	return false
}

// closerRoute reports whether p offers a route to target closer than this node.
func (r *Router) closerRoute(p *peer, target crypto.Location) bool {
	r.peers.Lock()
	defer r.peers.Unlock()
	return p.routeDistance(target) < r.peers.loc.Distance(target)
}

// keepLate stores an insert this node only cached, when routing it on showed that no peer
// that took it to its end had a closer route (spec §18.4): the nodes nearer the key refused it
// or were dead ends (the nearest may have seen the insert already, on its stem, and refuse it
// as a loop), so this node, closer than the node the insert came from, is the nearest the
// insert reached and must keep it.
func (r *Router) keepLate(w *walk, block []byte) bool {
	if w.from == nil || w.htl > maxCacheHTLInsert {
		// Not on the descent: the stem's node that ended it (at HTL 17 from then on, whether
		// it is the originator or not) or the node after it, which routed nothing below it.
		return false
	}
	target := w.target
	r.peers.Lock()
	prev := r.peers.byID[*w.from]
	farther := prev == nil || !prev.loc.Valid() || prev.loc.Distance(target) > r.peers.loc.Distance(target)
	r.peers.Unlock()
	if !farther {
		return false // the insert was still descending towards the key when it came here
	}
	if err := r.cfg.Store.Store(w.kt, w.key, block); err != nil {
		r.log.Debug("storing inserted block failed", "err", err)
		return false
	}
	r.trace(Event{Kind: EventStored, ID: w.id, Key: w.key})
	return true
}
