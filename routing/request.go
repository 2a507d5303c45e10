package routing

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// Per-hop timing (spec §18.7).
const (
	// hopMargin is what each hop keeps of the time it was given, to pass an answer back
	// before its own requester gives up.
	hopMargin = 200 * time.Millisecond
	// minForwardTime: with less time than this left, a node answers instead of forwarding.
	minForwardTime = 500 * time.Millisecond
	// offerWait is how long a relay waits, after passing data back, for the path-folding
	// noderef that follows it.
	offerWait = 2 * time.Second
	// stemSlack is the time a node on the stem waits beyond the stem's timeout. Every
	// message at HTL 18 carries the same timeout, so the stem's nodes all think they have
	// the same time; the slack lets those nearer the originator outwait those further on,
	// for stems whose hops together take less than this.
	stemSlack = 5 * time.Second
	// awaitPoll is how often a search that waits for a peer with MaxAwaiting unaccepted
	// messages looks again.
	awaitPoll = 50 * time.Millisecond
	// relayWait is the longest a relay waits for busy peers, in all, for one request or
	// insert (waitBackoff).
	relayWait = 250 * time.Millisecond
)

// budget is how long a node may spend on a message with the given HTL and timeout: the
// timeout, at most the node's request timeout, and at HTL 18 the stem's slack on top.
func (r *Router) budget(htl uint8, timeout time.Duration) time.Duration {
	d := min(timeout, r.cfg.RequestTimeout)
	if htl == MaxHTL {
		d += stemSlack
	}
	return d
}

// hopTimeout is the timeout a message sent at HTL out carries (spec §18.5). On the stem it
// is the request timeout itself, whoever sends it: a timeout that shrank by a margin per hop
// would count the hops from the originator, and the stem's first node would know its
// predecessor to be the originator whatever the HTL hides. Below the stem it is what is left
// of ctx less this hop's margin, at most the request timeout less one margin, so that the
// count starts where the stem ended. ok is false if too little is left to forward at all.
func (r *Router) hopTimeout(ctx context.Context, out uint8) (time.Duration, bool) {
	left, ok := timeLeft(ctx)
	if out == MaxHTL {
		return r.cfg.RequestTimeout, ok
	}
	return min(left, r.cfg.RequestTimeout-hopMargin), ok
}

// query is one request as this node handles it.
type query struct {
	kt     crypto.KeyType
	rk     crypto.RoutingKey
	id     uint64
	htl    uint8          // as received (MaxHTL for this node's own user): governs caching
	hops   uint8          // what is left of it: lowered by RouteNotFound while backtracking
	from   *crypto.NodeID // nil for this node's own user
	insert bool           // an insert, not a request
	tail   bool           // in the key's neighbourhood: routed by location (wire.Request.Tail, wire.Insert.Tail)
	stem   uint64         // the stem tag (wire.Request.Stem), while at HTL 18
	busy   bool           // a stem peer refused it for load or did not accept it in time
	waited time.Duration  // how long it has waited for busy peers (waitBackoff)
}

// result is how a search ended.
type result struct {
	block  []byte
	err    error // nil when found; ErrDataNotFound, ErrRouteNotFound, ErrOverloaded, ctx error
	htl    uint8 // HTL left, for RouteNotFound
	source bool  // found in this node's own store

	// For data found through a peer: the path-folding offer if it came before the data, else
	// the replies channel, still registered, where it will arrive, and the function that
	// unregisters it.
	offer  *wire.NodeRef
	offers <-chan wire.Message // the exchange's notes
	done   func()
}

// awaitOffer returns the path-folding noderef that came with the data, waiting a short
// while for it if it has not arrived yet.
func (res *result) awaitOffer(ctx context.Context) *wire.NodeRef {
	if res.offer != nil || res.offers == nil {
		return res.offer
	}
	return waitOffer(ctx, res.offers)
}

func (res *result) finish() {
	if res.done != nil {
		res.done()
	}
}

// GetBlock fetches a block for this node's own user (fetch.BlockGetter). The local store is
// looked in first; otherwise the request goes out as this node's own, through the stem. What
// comes back is verified and returned, and not stored: a node keeps no trace of its own user's
// downloads in the shared store (spec §18.4).
//
// The request is handled as a relay handles one that reached it at HTL 18 (spec §18.2): no
// peer can tell the two apart. It runs on its own, with the request timeout of every request:
// if ctx ends first, GetBlock returns and the request goes on as a relay's would, its answer
// unused. When it ends overloaded, the user asks again (ownRound).
func (r *Router) GetBlock(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey) ([]byte, error) {
	if block, ok := r.cfg.Store.Get(kt, rk); ok {
		return block, nil
	}
	r.mu.Lock()
	r.stats.LocalRequests++
	r.mu.Unlock()
	var res result
	err := r.ownRounds(ctx, kt, rk, func(wctx context.Context, q query) error {
		res = r.search(wctx, q)
		return res.err
	}, func() { res.finish() })
	if err != nil {
		return nil, err
	}
	defer res.finish()
	if r.cfg.Opennet && r.cfg.Connect != nil {
		// Only opennet nodes fold paths; on darknet no offer comes, so none is awaited.
		if ref := res.awaitOffer(ctx); ref != nil {
			r.considerOffer(ref)
		}
	}
	return res.block, nil
}

// ownRetryPause is the first pause before the node's user asks again after its request or
// insert ended overloaded (ownRounds, spec §18.5).
const ownRetryPause = time.Second

// ownRounds runs the node's own request or insert: each round is a walk started as a relay
// starts one that reached it at HTL 18, under a fresh ID and the stem tag of ctx (WithStem,
// or else one of its own for all the rounds); walk runs it and reports how it ended. A round
// that ended overloaded is followed by another after a pause (retryPause: about 1, 2, 4, then
// 8 s), as long as a round can start within the request timeout of the first and within ctx's
// deadline: the user asking again, which a relay on the stem sees as it sees any node before
// it ask again. A route that was not found is not looked for again.
//
// Each round runs on a goroutine of its own with the budget a relay would give it, not ctx's
// deadline: the timeouts it sends are those of any message at HTL 18, and if ctx ends first,
// ownRounds returns ctx's error while the round goes on to its end, as a relay's would; drop
// is then called when it ends, to release what it holds.
func (r *Router) ownRounds(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey, walk func(context.Context, query) error, drop func()) error {
	var tag uint64
	until := time.Now().Add(r.cfg.RequestTimeout)
	if deadline, ok := ctx.Deadline(); ok && deadline.Before(until) {
		until = deadline
	}
	for round := 0; ; round++ {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return ErrClosed
		}
		id := r.newIDLocked()
		r.wg.Add(1)
		r.mu.Unlock()
		r.trace(Event{Kind: EventOriginate, ID: id, Key: rk})
		if tag == 0 {
			tag = stemFrom(ctx, id)
		}
		q := query{kt: kt, rk: rk, id: id, htl: MaxHTL, hops: MaxHTL, stem: tag}
		done := make(chan error, 1)
		abandoned := make(chan struct{})
		go func() {
			defer r.wg.Done()
			wctx, cancel := context.WithTimeout(r.ctx, r.budget(MaxHTL, r.cfg.RequestTimeout))
			defer cancel()
			err := walk(wctx, q)
			r.mu.Lock()
			r.completed++
			r.mu.Unlock()
			select {
			case done <- err:
			case <-abandoned:
				drop()
			}
		}()
		var err error
		select {
		case err = <-done:
		case <-ctx.Done():
			close(abandoned)
			return ctx.Err()
		}
		if err == nil || !errors.Is(err, ErrOverloaded) {
			return err
		}
		pause := r.retryPause(round)
		if time.Now().Add(pause).After(until) {
			return err
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}

// drawRetryPause draws the pause before the round-th retry of the node's own request
// (ownRounds): ownRetryPause doubled each round up to 8 s, the longest backoff (by then the
// peers that refused have rested), times a random factor in [0.5, 1.5), so that the moment a
// stem peer sees the request again does not tell it whether this node or one before it
// decided to ask again.
func (r *Router) drawRetryPause(round int) time.Duration {
	r.mu.Lock()
	f := 0.5 + r.rng.Float64()
	r.mu.Unlock()
	return time.Duration(f * float64(ownRetryPause<<min(round, 3)))
}

// handleRequest serves a request from a peer on its own goroutine.
func (r *Router) handleRequest(from crypto.NodeID, m *wire.Request) {
	defer r.wg.Done()
	defer r.release(from)
	r.trace(Event{Kind: EventRequest, Peer: from, ID: m.ID, HTL: m.HTL, Key: m.Key, Timeout: m.Timeout})
	r.mu.Lock()
	r.stats.Requests++
	r.mu.Unlock()
	r.send(from, &wire.Accepted{ID: m.ID})

	ctx, cancel := context.WithTimeout(r.ctx, r.budget(m.HTL, m.Timeout))
	defer cancel()
	q := query{kt: m.KeyType, rk: m.Key, id: m.ID, htl: m.HTL, hops: m.HTL, from: &from, tail: m.Tail, stem: m.Stem}
	res := r.search(ctx, q)
	defer res.finish()

	r.mu.Lock()
	r.completed++
	switch {
	case res.err == nil:
		r.stats.Found++
	default:
		r.stats.NotFound++
		// A search on the stem records nothing: its predecessor may be the originator,
		// which does not take offers (its user's call has ended), and the originator's own
		// search, which has no predecessor, must leave the same trace as a relay's. Only a
		// search this node routed itself below the stem, and that ran out for want of the
		// block rather than for busy peers or time, arms the quick answer: a key that failed
		// because the network was busy would otherwise be answered "not found" for a while
		// after the load had passed.
		if q.htl < MaxHTL {
			armed := q.htl
			if res.err == ErrOverloaded || errors.Is(res.err, context.DeadlineExceeded) {
				armed = 0
			}
			r.failed.record(failKey{q.kt, q.rk}, armed, &from, r.now())
		}
	}
	r.mu.Unlock()

	switch {
	case res.err == nil:
		r.sendReply(ctx, from, &wire.DataReply{KeyType: q.kt, ID: q.id, Block: res.block})
		r.relayOffer(ctx, from, q, &res)
	case res.err == ErrRouteNotFound:
		r.send(from, &wire.RouteNotFound{ID: q.id, HTL: res.htl})
	case res.err == ErrOverloaded:
		r.send(from, &wire.RejectedOverload{ID: q.id})
	default:
		r.send(from, &wire.DataNotFound{ID: q.id})
	}
}

// relayOffer passes the path-folding noderef back after data (spec §18.8). The node that had
// the data offers its own noderef; each hop replaces the one it relays with its own with
// probability 1/20, so the requester cannot tell whose it got.
func (r *Router) relayOffer(ctx context.Context, to crypto.NodeID, q query, res *result) {
	if !r.cfg.Opennet || r.cfg.Ref == nil {
		return
	}
	var ref *wire.NodeRef
	switch {
	case res.source:
		ref = r.cfg.Ref()
	default:
		ref = res.awaitOffer(ctx)
		r.mu.Lock()
		replace := r.rng.IntN(20) == 0
		r.mu.Unlock()
		if ref == nil || replace {
			ref = r.cfg.Ref()
		}
	}
	if ref != nil {
		r.send(to, &wire.NodeRefOffer{ID: q.id, Ref: ref})
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

// lookLocal answers a request from this node's store, or at once with DataNotFound if the key
// failed here moments ago.
func (r *Router) lookLocal(q query) (result, bool) {
	if block, ok := r.cfg.Store.Get(q.kt, q.rk); ok {
		r.trace(Event{Kind: EventFound, ID: q.id, Key: q.rk})
		return result{block: block, source: true}, true
	}
	r.mu.Lock()
	quick := r.failed.recentlyFailed(failKey{q.kt, q.rk}, q.hops, r.now())
	if quick {
		r.failed.record(failKey{q.kt, q.rk}, q.hops, q.from, r.now())
	}
	r.mu.Unlock()
	if quick {
		return result{err: ErrDataNotFound}, true
	}
	return result{}, false
}

// search looks for the block: along the stem first if the request is still at HTL 18, then
// in the store and through peers in routing order, backtracking on RouteNotFound,
// RejectedLoop, overload and timeouts (spec §18.3).
func (r *Router) search(ctx context.Context, q query) result {
	tried := make(map[crypto.NodeID]bool)
	if q.from != nil {
		tried[*q.from] = true
	}
	for q.hops >= MaxHTL {
		h := r.walkStem(ctx, &q, tried, func(id uint64, htl uint8, stem uint64, timeout time.Duration) wire.Message {
			return &wire.Request{KeyType: q.kt, ID: id, HTL: htl, Stem: stem, Key: q.rk, Timeout: timeout}
		})
		if h.ok {
			if res, end := r.requestReply(q, h.p, h.x); end {
				return res
			}
		}
		q, tried = h.next, h.skip
	}
	if res, ok := r.lookLocal(q); ok {
		return res
	}
	if !q.tail {
		// Where no route leads closer, the request has reached the key's neighbourhood:
		// from here it walks node to nearest node, the way an insert's tail placed its
		// copies, so that it finds them even if the nearest node is gone.
		r.mu.Lock()
		q.tail = !r.closerRouteLocked(q.rk.Location(), q.from)
		r.mu.Unlock()
	}
	overloaded := q.busy
	for {
		if err := ctx.Err(); err != nil {
			return result{err: fmt.Errorf("%w: %w", ErrRouteNotFound, err), htl: q.hops}
		}
		p, out := r.nextHop(q, tried)
		if p == nil {
			retry, busy := r.waitBackoff(ctx, &q, tried)
			if retry {
				continue
			}
			if overloaded || busy {
				return result{err: ErrOverloaded}
			}
			return result{err: ErrRouteNotFound, htl: q.hops}
		}
		tried[p.id] = true
		if out == 0 {
			return result{err: ErrDataNotFound}
		}
		left, ok := r.hopTimeout(ctx, out)
		if !ok {
			return result{err: ErrRouteNotFound, htl: q.hops}
		}
		x := r.exchange(ctx, p.id, &wire.Request{KeyType: q.kt, ID: q.id, HTL: out, Tail: q.tail, Key: q.rk, Timeout: left})
		if res, end := r.requestReply(q, p, x); end {
			return res
		}
		switch m := x.reply.(type) {
		case *wire.RouteNotFound:
			q.hops = min(q.hops, m.HTL)
			if q.hops == 0 {
				return result{err: ErrDataNotFound}
			}
		case *wire.RejectedOverload:
			overloaded = true
		}
	}
}

// requestReply handles a peer's answer to a request: data that verifies or DataNotFound end
// the search (end is true); anything else means trying another peer, and the peer is backed
// off if it was busy, silent or lied.
func (r *Router) requestReply(q query, p *peer, x exchanged) (res result, end bool) {
	switch m := x.reply.(type) {
	case *wire.DataReply:
		if err := r.checkBlock(p, q.kt, q.rk, m.KeyType, m.Block); err != nil {
			x.done()
			return result{}, false
		}
		r.cacheReply(q, m.Block)
		return result{block: m.Block, offer: x.early, offers: x.notes, done: x.done}, true
	case *wire.DataNotFound:
		x.done()
		return result{err: ErrDataNotFound}, true
	case *wire.RouteNotFound, *wire.RejectedLoop:
		x.done()
	default: // RejectedOverload, a timeout, or the link dropped
		x.done()
		_, overload := x.reply.(*wire.RejectedOverload)
		r.backOff(p, overload)
	}
	return result{}, false
}

// stemHop is the outcome of walking a request or insert one hop along the stem.
type stemHop struct {
	x  exchanged // the stem peer's answer, if ok
	p  *peer
	ok bool // a stem peer answered; false if none was left, and the stem ends here
	// next is the query this node goes on with if the search must continue here: below HTL
	// 18 and under a fresh ID. skip is what that search must leave out: the peers that
	// failed outright, and the peer that already carries next's ID. A peer that only
	// refused the stem's ID as a loop has never seen the fresh one and may be asked.
	next query
	skip map[crypto.NodeID]bool
}

// walkStem forwards a request or insert that is at HTL 18 one hop along the stem (spec
// §18.2): to the stem peer the request's ID picks, over that link's coin. If the coin keeps
// HTL 18, the stem goes on with the same ID. If it decrements, this node is where the stem
// ends: it sends the message on at HTL 17 under a fresh ID, so that the search that starts
// there is free of the stem's loop-detection entries. A peer that is busy, silent or refuses
// the ID as a loop is skipped for the next stem peer. tried holds the peers already tried
// with the stem's ID and is updated.
func (r *Router) walkStem(ctx context.Context, q *query, tried map[crypto.NodeID]bool, msg func(id uint64, htl uint8, stem uint64, timeout time.Duration) wire.Message) stemHop {
	h := stemHop{next: *q, skip: make(map[crypto.NodeID]bool)}
	h.next.htl, h.next.hops, h.next.stem = MaxHTL-1, MaxHTL-1, 0
	r.mu.Lock()
	h.next.id = r.newIDLocked()
	r.mu.Unlock()
	r.trace(Event{Kind: EventStemExit, ID: q.id, Next: h.next.id, Key: q.rk})
	for ctx.Err() == nil {
		p, out := r.nextHop(*q, tried)
		if p == nil {
			if retry, _ := r.waitBackoff(ctx, q, tried); retry {
				continue
			}
			break
		}
		tried[p.id] = true
		left, ok := r.hopTimeout(ctx, out)
		if !ok {
			break
		}
		id, stem := q.id, q.stem
		if out < MaxHTL {
			id, stem = h.next.id, 0 // the stem ends over this link
			h.skip[p.id] = true
		}
		x := r.exchange(ctx, p.id, msg(id, out, stem, left))
		switch m := x.reply.(type) {
		case *wire.RejectedLoop:
			x.done()
			continue
		case *wire.RejectedOverload, nil:
			x.done()
			h.skip[p.id] = true
			r.backOff(p, m != nil)
			q.busy = true
			continue
		case *wire.RouteNotFound:
			h.next.hops = min(h.next.hops, m.HTL)
		}
		h.x, h.p, h.ok, h.next.waited, h.next.busy = x, p, true, q.waited, q.busy
		return h
	}
	// What the walk waited for busy peers counts below the stem too, and stem peers that
	// were busy make a search that runs out of peers below it end overloaded.
	h.next.waited, h.next.busy = q.waited, q.busy
	return h
}

// timeLeft is the timeout to give the next hop: what is left of ctx less this hop's margin,
// or false if too little is left to forward at all.
func timeLeft(ctx context.Context) (time.Duration, bool) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return wire.MaxTimeout, true
	}
	left := min(time.Until(deadline)-hopMargin, wire.MaxTimeout)
	return left.Truncate(time.Millisecond), left >= minForwardTime
}

// nextHop picks the next peer to try and the HTL to send it: at HTL 18 a stem peer, below it
// the peer closest to the key. Callers handle nil (no peer left).
func (r *Router) nextHop(q query, tried map[crypto.NodeID]bool) (*peer, uint8) {
	return r.nextHopExcluding(q, func(id crypto.NodeID) bool { return tried[id] })
}

// nextHopExcluding is nextHop with the peers to skip given as a function.
func (r *Router) nextHopExcluding(q query, skip func(crypto.NodeID) bool) (*peer, uint8) {
	htl := q.hops
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	// A peer with MaxAwaiting messages not yet accepted is passed over like a backed-off
	// one, until it answers.
	excluded := func(p *peer) bool { return skip(p.id) || p.awaiting >= r.cfg.MaxAwaiting }
	var p *peer
	switch {
	case htl >= MaxHTL:
		tag := q.stem
		if tag == 0 {
			tag = q.id
		}
		p = r.stemPeerLocked(tag, excluded, now)
	case q.tail:
		// A tail walks to the peer nearest the key by its own location: an insert's, so
		// that its copies land on the nodes nearest the key (spec §18.4); a request's, so
		// that it visits those nodes (spec §18.3).
		p = choosePeerByLocation(r.peerListLocked(), q.rk.Location(), excluded, now)
	default:
		p = choosePeer(r.peerListLocked(), q.rk.Location(), excluded, now)
	}
	if p == nil {
		return nil, 0
	}
	return p, p.coins.next(htl)
}

// stemPeerLocked picks the stem's next hop (spec §18.2): among the peers not excluded, the one
// whose keyed hash with the stem tag is lowest. It is random to everyone else, and the same for
// every request with the same tag: all the requests of one download walk one stem.
func (r *Router) stemPeerLocked(id uint64, excluded func(*peer) bool, now time.Time) *peer {
	var best *peer
	var bestH uint64
	var buf [8 + 32 + crypto.KeySize]byte
	copy(buf[8:], r.stemSecret[:])
	binary.BigEndian.PutUint64(buf[:8], id)
	for _, p := range r.peers {
		if !p.routable() || excluded(p) || now.Before(p.backoffUntil) {
			continue
		}
		copy(buf[40:], p.id[:])
		sum := sha256.Sum256(buf[:])
		if h := binary.BigEndian.Uint64(sum[:8]); best == nil || h < bestH {
			best, bestH = p, h
		}
	}
	return best
}

func (r *Router) peerListLocked() []*peer {
	out := make([]*peer, 0, len(r.peers))
	for _, p := range r.peers {
		out = append(out, p)
	}
	return out
}

// exchanged is the outcome of one exchange with a peer.
type exchanged struct {
	reply wire.Message        // the answer; nil on timeout or a dropped link
	early *wire.NodeRef       // a path-folding offer that overtook its data on the link
	notes <-chan wire.Message // the registration's notes, still open, for a later offer
	done  func()              // unregisters it
}

// exchange sends a request or insert to a peer and waits for its answer: first Accepted
// within AcceptTimeout (or an answer), then an answer before ctx ends. The registration stays
// open so that a path-folding offer after data can still be read; the caller calls done.
func (r *Router) exchange(ctx context.Context, to crypto.NodeID, m wire.Message) exchanged {
	w, done := r.expect(to, messageID(m))
	x := exchanged{notes: w.notes, done: done}
	if err := r.send(to, m); err != nil {
		return x
	}
	r.mu.Lock()
	p := r.peers[to]
	if p != nil {
		p.awaiting++
	}
	r.mu.Unlock()
	accepted := false
	accept := func() {
		if !accepted && p != nil {
			r.mu.Lock()
			p.awaiting--
			r.mu.Unlock()
		}
		accepted = true
	}
	acceptTimer := time.NewTimer(r.cfg.AcceptTimeout)
	defer acceptTimer.Stop()
	defer accept()
	for {
		select {
		case note := <-w.notes:
			switch note := note.(type) {
			case *wire.Accepted:
				accept()
			case *wire.NodeRefOffer:
				x.early = note.Ref
			}
		case reply := <-w.end:
			if _, gone := reply.(*peerGone); !gone {
				x.reply = reply
			}
			return x
		case <-acceptTimer.C:
			if !accepted {
				r.mu.Lock()
				r.stats.Timeouts++
				r.mu.Unlock()
				return x
			}
		case <-ctx.Done():
			return x
		}
	}
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

// checkBlock verifies a block a peer sent. A peer that sends bad blocks is backed off and,
// after a few, disconnected: no bad byte goes further than the node that received it.
func (r *Router) checkBlock(p *peer, kt crypto.KeyType, rk crypto.RoutingKey, gotKT crypto.KeyType, block []byte) error {
	err := r.cfg.VerifyBlock(kt, rk, block)
	if err == nil && gotKT != kt {
		err = fmt.Errorf("reply of key type %v to a %v request", gotKT, kt)
	}
	if err == nil {
		r.mu.Lock()
		p.served++
		p.lastSuccess = r.now()
		p.succeeded()
		r.mu.Unlock()
		return nil
	}
	r.trace(Event{Kind: EventBadBlock, Peer: p.id, Key: rk})
	r.log.Warn("peer sent a block that does not verify", "peer", p.id, "err", err)
	r.mu.Lock()
	r.stats.BadBlocks++
	p.badBlocks++
	drop := p.badBlocks >= maxBadBlocks
	p.backOff(r.now())
	if drop {
		r.refused[p.id] = r.now().Add(refuseTime)
	}
	r.mu.Unlock()
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

// Refuses reports whether this node refuses id as a peer: less than an hour ago it was
// disconnected for sending blocks that do not verify, for flooding its link or for breaking
// the protocol. A node neither dials nor accepts it.
func (r *Router) Refuses(id crypto.NodeID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refusesLocked(id)
}

func (r *Router) refusesLocked(id crypto.NodeID) bool {
	until, ok := r.refused[id]
	if ok && !r.now().Before(until) {
		delete(r.refused, id)
		return false
	}
	return ok
}

// waitBackoff waits, when every peer not yet tried is busy, until the first of them may be
// tried again, and reports whether there is one to try (retry) and whether any untried peer
// was busy at all (busy: the search ran out for load, not for want of a route). Under load
// every peer may have refused something a moment ago; failing the request then would turn a
// busy moment into a lost block.
//
// A search waits at most relayWait in all, and never for a peer backed off for silence:
// whatever it waits, it waits holding its place at every node before it, and if those places
// are what keeps its peers busy (a flood, say) the waiting feeds itself, while a silent peer
// would most likely cost a backoff and an AcceptTimeout more. A search that gives up frees its
// places and answers overloaded. The node's own searches wait the same (a stem peer would
// otherwise see the originator as the node that waited longer); the user's patience is spent
// between rounds instead (ownRounds), where it holds nothing.
func (r *Router) waitBackoff(ctx context.Context, q *query, tried map[crypto.NodeID]bool) (retry, busy bool) {
	r.mu.Lock()
	now := r.now()
	var first time.Time
	for _, p := range r.peers {
		if !p.routable() || tried[p.id] {
			continue
		}
		until := time.Time{}
		switch {
		case p.awaiting >= r.cfg.MaxAwaiting:
			until = now.Add(awaitPoll)
		case p.backoffUntil.After(now) && !p.silent:
			until = p.backoffUntil
		}
		if !until.IsZero() && (first.IsZero() || until.Before(first)) {
			first = until
		}
	}
	r.mu.Unlock()
	if first.IsZero() {
		return false, false
	}
	if q.waited+first.Sub(now) > relayWait {
		return false, true
	}
	q.waited += first.Sub(now)
	t := time.NewTimer(first.Sub(now))
	defer t.Stop()
	select {
	case <-t.C:
		return true, true
	case <-ctx.Done():
		return false, true
	}
}

// backOff marks p busy after it refused a request for overload or did not answer in time.
// An overload also marks this node congested for a while (fair sharing, admit).
func (r *Router) backOff(p *peer, overload bool) {
	r.mu.Lock()
	now := r.now()
	p.backOff(now)
	p.silent = !overload
	if overload {
		r.congested = now.Add(congestionTime)
	}
	r.mu.Unlock()
}

// cacheReply keeps a block that passed through on its way back, subject to the HTL rule: a
// node that received the request at HTL 17 or 18 may be next to its originator, and keeps
// nothing (spec §18.4). The node's own user's requests are never cached.
func (r *Router) cacheReply(q query, block []byte) {
	if q.htl > maxCacheHTLRequest {
		return
	}
	if err := r.cfg.Store.Cache(q.kt, q.rk, block); err != nil {
		r.log.Debug("cache failed", "err", err)
		return
	}
	r.trace(Event{Kind: EventCached, ID: q.id, Key: q.rk})
	r.blockArrived(q.kt, q.rk)
}

type stemKey struct{}

// WithStem returns a context under which GetBlock and PutBlock send their requests and inserts
// with the stem tag tag, so that they all walk the same stem (spec §18.2). A download or upload
// uses one tag for all its blocks: a node on its stem then sees all of it or none, whether
// from its originator or a relay, and cannot tell the two apart by how much it sees. Zero, or
// no tag, gives each request a stem of its own.
func WithStem(ctx context.Context, tag uint64) context.Context {
	return context.WithValue(ctx, stemKey{}, tag)
}

// stemFrom is the stem tag for a request or insert of this node's user: the one set with
// WithStem, or else one of its own.
func stemFrom(ctx context.Context, id uint64) uint64 {
	if tag, ok := ctx.Value(stemKey{}).(uint64); ok && tag != 0 {
		return tag
	}
	return id
}

// Restem returns the context for the attempt-th try of a block, attempt 0 being the first: a
// retry after a failure walks a stem of its own, derived from the download's tag (if ctx has
// one; see WithStem), since the failed attempt's stem may be what failed.
func Restem(ctx context.Context, attempt int) context.Context {
	tag, ok := ctx.Value(stemKey{}).(uint64)
	if attempt <= 0 || !ok || tag == 0 {
		return ctx
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], tag)
	binary.BigEndian.PutUint64(b[8:], uint64(attempt))
	sum := sha256.Sum256(b[:])
	return WithStem(ctx, binary.BigEndian.Uint64(sum[:8])|1)
}
