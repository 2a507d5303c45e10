package routing

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// PutBlock inserts a block for this node's own user (insert.BlockPutter). The insert goes
// out through the stem and is routed towards the key until its HTL runs out, stored by the
// nodes nearest the key on the way (spec §18.4). It is handled as a relay handles an insert
// that reached it at HTL 18, and in rounds as GetBlock's requests are (ownRounds): this node
// keeps a copy only where it is the key's sink, as it would for anyone's insert. An SSK whose
// slot already holds a different block fails with an error wrapping crypto.ErrCollision.
func (r *Router) PutBlock(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	if err := r.cfg.VerifyBlock(kt, rk, block); err != nil {
		return fmt.Errorf("insert: block does not verify against its key: %w", err)
	}
	if kt == crypto.SSK {
		if existing, ok := r.cfg.Store.Get(kt, rk); ok && !bytes.Equal(existing, block) {
			return fmt.Errorf("insert: %w", crypto.ErrCollision)
		}
	}
	r.mu.Lock()
	r.stats.LocalInserts++
	r.mu.Unlock()
	return r.ownRounds(ctx, kt, rk, func(wctx context.Context, q query) error {
		q.insert = true
		res := r.insert(wctx, q, block)
		if res.collision != nil {
			// A collision carries no error of its own: it is reported before the error is
			// looked at, or an SSK slot another block holds would look inserted.
			return fmt.Errorf("insert: %w", crypto.ErrCollision)
		}
		return res.err
	}, func() {})
}

// insertResult is how an insert ended at this node.
type insertResult struct {
	err       error  // nil: inserted as far as its HTL or the network reached
	htl       uint8  // HTL left, with ErrRouteNotFound
	collision []byte // the block already in the SSK slot, which wins
}

// handleInsert serves an insert from a peer on its own goroutine.
func (r *Router) handleInsert(from crypto.NodeID, m *wire.Insert) {
	defer r.wg.Done()
	defer r.release(from)
	r.trace(Event{Kind: EventInsert, Peer: from, ID: m.ID, HTL: m.HTL, Key: m.Key, Timeout: m.Timeout})
	r.mu.Lock()
	r.stats.Inserts++
	p := r.peers[from]
	r.mu.Unlock()
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
	res := r.insert(ctx, query{kt: m.KeyType, rk: m.Key, id: m.ID, htl: m.HTL, hops: m.HTL, from: &from, insert: true, tail: m.Tail, stem: m.Stem}, m.Block)
	switch {
	case res.collision != nil:
		r.send(from, &wire.InsertCollision{ID: m.ID, Block: res.collision})
	case res.err == nil:
		r.send(from, &wire.InsertReply{ID: m.ID})
	case res.err == ErrOverloaded:
		r.send(from, &wire.RejectedOverload{ID: m.ID})
	default:
		r.send(from, &wire.RouteNotFound{ID: m.ID, HTL: res.htl})
	}
}

// insert routes a verified block towards its key. Each node that received it at HTL 15 or
// below keeps it: long-term if it is the sink (closer to the key than the node it came from
// and than the first peer it goes to), in the cache otherwise.
func (r *Router) insert(ctx context.Context, q query, block []byte) insertResult {
	if q.kt == crypto.SSK {
		if existing, ok := r.cfg.Store.Get(q.kt, q.rk); ok && !bytes.Equal(existing, block) {
			return insertResult{collision: existing}
		}
	}
	tried := make(map[crypto.NodeID]bool)
	if q.from != nil {
		tried[*q.from] = true
	}
	// A sink keeps the block whatever HTL it received it at (spec §18.4), on the stem too.
	stored, sink := r.keepInserted(q, block)
	progressed := false
	for q.hops >= MaxHTL {
		h := r.walkStem(ctx, &q, tried, func(id uint64, htl uint8, stem uint64, timeout time.Duration) wire.Message {
			return &wire.Insert{KeyType: q.kt, ID: id, HTL: htl, Stem: stem, Key: q.rk, Timeout: timeout, Block: block}
		})
		if h.ok {
			if res, end := r.insertReply(q, h.p, h.x, block); end {
				return res
			}
			progressed = true
		}
		q, tried = h.next, h.skip
	}
	if sink && !q.tail {
		q.tail = true // the tail begins: its nodes keep copies
		q.hops = min(q.hops, sinkTail+1)
		if !stored {
			// A sink whose store refused the block (its disk is full) hands it to the
			// nodes nearest the key all the same, under a new ID: the nodes the insert
			// visited on its way here deferred to this one and would refuse the old ID
			// as a loop, and the block would be kept nowhere.
			r.mu.Lock()
			q.id = r.newIDLocked()
			r.mu.Unlock()
			tried = make(map[crypto.NodeID]bool)
			if q.from != nil {
				tried[*q.from] = true
			}
		}
	}
	// closer records whether a peer that took the insert to its end offered a closer route
	// than this node. If none did, this node is the nearest the insert could reach: a late
	// sink, which keeps it. A node that has kept the insert answers that it is inserted even
	// where it found no route further on.
	closer := false
	finish := func(res insertResult) insertResult {
		if res.collision != nil {
			return res
		}
		if !stored && !closer {
			stored = r.keepLate(q, block)
		}
		if stored {
			return insertResult{}
		}
		return res
	}
	overloaded := q.busy
	for ctx.Err() == nil {
		p, out := r.nextHop(q, tried)
		if p == nil {
			retry, busy := r.waitBackoff(ctx, &q, tried)
			if retry {
				continue
			}
			overloaded = overloaded || busy
			break
		}
		tried[p.id] = true
		if out == 0 {
			return finish(insertResult{})
		}
		left, ok := r.hopTimeout(ctx, out)
		if !ok {
			break
		}
		x := r.exchange(ctx, p.id, &wire.Insert{KeyType: q.kt, ID: q.id, HTL: out, Tail: q.tail, Key: q.rk, Timeout: left, Block: block})
		if _, ok := x.reply.(*wire.InsertReply); ok {
			// The peer took the insert to its end. (RouteNotFound would mean its route,
			// however close it looked, was a dead end.)
			closer = closer || r.closerRoute(p, q.rk.Location())
		}
		if res, end := r.insertReply(q, p, x, block); end {
			return finish(res)
		}
		switch m := x.reply.(type) {
		case *wire.RouteNotFound:
			progressed = true
			q.hops = min(q.hops, m.HTL)
			if q.hops == 0 {
				return finish(insertResult{})
			}
		case *wire.RejectedLoop:
			progressed = true // the node has it already, from another branch of this insert
		case *wire.RejectedOverload:
			overloaded = true
		}
	}
	if overloaded && !progressed {
		return finish(insertResult{err: ErrOverloaded})
	}
	res := finish(insertResult{err: ErrRouteNotFound, htl: q.hops})
	if res.err != nil && q.from == nil {
		// A RouteNotFound reaching the originator means that no node kept the block: a
		// node that kept it, or whose next hop did, answers InsertReply.
		res.err = fmt.Errorf("%w: no node kept the block", res.err)
	}
	return res
}

// insertReply handles a peer's answer to an insert: InsertReply or a collision end it (end
// is true); anything else means trying another peer, and a busy or silent peer is backed off.
func (r *Router) insertReply(q query, p *peer, x exchanged, block []byte) (res insertResult, end bool) {
	x.done()
	switch m := x.reply.(type) {
	case *wire.InsertReply:
		return insertResult{}, true
	case *wire.InsertCollision:
		if q.kt == crypto.SSK && r.checkBlock(p, q.kt, q.rk, q.kt, m.Block) == nil && !bytes.Equal(m.Block, block) {
			return insertResult{collision: m.Block}, true
		}
	case *wire.RouteNotFound, *wire.RejectedLoop:
	default:
		_, overload := x.reply.(*wire.RejectedOverload)
		r.backOff(p, overload)
	}
	return insertResult{}, false
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
func (r *Router) keepInserted(q query, block []byte) (stored, sink bool) {
	target := q.rk.Location()
	r.mu.Lock()
	me := r.loc.Distance(target)
	sink = true
	switch {
	case q.tail:
		// In the tail after a sink: keep a copy.
	default:
		if q.from != nil && q.htl <= maxCacheHTLInsert {
			if prev := r.peers[*q.from]; prev != nil && prev.loc.Valid() && prev.loc.Distance(target) <= me {
				sink = false
			}
		}
		if r.closerRouteLocked(target, q.from) {
			sink = false
		}
	}
	r.mu.Unlock()
	var err error
	switch {
	case sink && q.tail:
		// A tail's copy need not be on disk before the insert is answered: the sink's is
		// (spec §8.4), and the tail's commit is shared with the node's other writes.
		err = r.cfg.Store.StoreTail(q.kt, q.rk, block)
		r.trace(Event{Kind: EventStored, ID: q.id, Key: q.rk})
	case sink:
		err = r.cfg.Store.Store(q.kt, q.rk, block)
		r.trace(Event{Kind: EventStored, ID: q.id, Key: q.rk})
	case q.htl <= maxCacheHTLInsert:
		err = r.cfg.Store.Cache(q.kt, q.rk, block)
		r.trace(Event{Kind: EventCached, ID: q.id, Key: q.rk})
	default:
		return false, false
	}
	if err != nil {
		r.log.Debug("keeping inserted block failed", "sink", sink, "err", err)
		return false, sink
	}
	r.blockArrived(q.kt, q.rk)
	return sink, sink
}

// closerRouteLocked reports whether any routable peer but except (nil: none) offers a route
// to target closer than this node: the peer itself or one of its neighbours (FOAF). Without
// one, this node is where greedy routing towards target ends.
func (r *Router) closerRouteLocked(target crypto.Location, except *crypto.NodeID) bool {
	me := r.loc.Distance(target)
	for _, p := range r.peers {
		if (except == nil || p.id != *except) && p.routable() && p.routeDistance(target) < me {
			return true
		}
	}
	return false
}

// closerRoute reports whether p offers a route to target closer than this node.
func (r *Router) closerRoute(p *peer, target crypto.Location) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return p.routeDistance(target) < r.loc.Distance(target)
}

// keepLate stores an insert this node only cached, when routing it on showed that no peer
// that took it to its end had a closer route (spec §18.4): the nodes nearer the key refused it
// or were dead ends (the nearest may have seen the insert already, on its stem, and refuse it
// as a loop), so this node, closer than the node the insert came from, is the nearest the
// insert reached and must keep it.
func (r *Router) keepLate(q query, block []byte) bool {
	if q.from == nil || q.htl > maxCacheHTLInsert {
		// Not on the descent: the stem's node that ended it (at HTL 17 from then on, whether
		// it is the originator or not) or the node after it, which routed nothing below it.
		return false
	}
	target := q.rk.Location()
	r.mu.Lock()
	prev := r.peers[*q.from]
	farther := prev == nil || !prev.loc.Valid() || prev.loc.Distance(target) > r.loc.Distance(target)
	r.mu.Unlock()
	if !farther {
		return false // the insert was still descending towards the key when it came here
	}
	if err := r.cfg.Store.Store(q.kt, q.rk, block); err != nil {
		r.log.Debug("storing inserted block failed", "err", err)
		return false
	}
	r.trace(Event{Kind: EventStored, ID: q.id, Key: q.rk})
	return true
}

// blockArrived offers a block that has just arrived to the peers that asked for it in vain
// recently (spec §18.6).
func (r *Router) blockArrived(kt crypto.KeyType, rk crypto.RoutingKey) {
	r.mu.Lock()
	e := r.failed.take(failKey{kt, rk})
	r.mu.Unlock()
	if e == nil {
		return
	}
	for _, id := range e.askers {
		r.send(id, &wire.OfferKey{KeyType: kt, Key: rk})
	}
}

// handleOffer answers an OfferKey: if peers of this node asked for the key in vain, the block
// is fetched from the peer offering it, cached, and offered on to them.
func (r *Router) handleOffer(from crypto.NodeID, m *wire.OfferKey) {
	k := failKey{m.KeyType, m.Key}
	r.mu.Lock()
	e := r.failed.entries[k]
	wanted := e != nil && len(e.askers) > 0
	p := r.peers[from]
	if !wanted || p == nil || r.closed || r.active >= r.cfg.MaxActive {
		r.mu.Unlock()
		return
	}
	id := r.newIDLocked()
	r.active++
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer r.release(crypto.NodeID{}) // the node's own work, not a peer's
		ctx, cancel := context.WithTimeout(r.ctx, r.cfg.AcceptTimeout+10*time.Second)
		defer cancel()
		x := r.exchange(ctx, from, &wire.Request{KeyType: m.KeyType, ID: id, HTL: 1, Key: m.Key, Timeout: 10 * time.Second})
		x.done()
		if d, ok := x.reply.(*wire.DataReply); ok && r.checkBlock(p, m.KeyType, m.Key, d.KeyType, d.Block) == nil {
			if err := r.cfg.Store.Cache(m.KeyType, m.Key, d.Block); err == nil {
				r.blockArrived(m.KeyType, m.Key)
			}
		}
	}()
}
