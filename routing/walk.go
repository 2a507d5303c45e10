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

// A walk carries one request, insert or announcement through this node (spec §18.2–§18.4,
// §18.8): along the stem while its HTL is at the maximum, then by key closeness, trying peer
// after peer, backtracking on RouteNotFound, RejectedLoop, refusals for load, silence and
// dropped links, and waiting a little for busy peers, until a peer's answer ends it, its HTL
// runs out or no peer is left. It runs the same whether the message came from a peer or from
// this node's own user (from is nil): only where its outcome goes differs (spec §18.2, "The
// originator is a stem node"). What is particular to each kind of message is its kind: what
// it sends, what it does at this node and what its answers mean.
//
// A walk belongs to one goroutine; its fields need no lock.
type walk struct {
	r      *Router
	kind   kind
	from   *crypto.NodeID // the peer it came from; nil for this node's own
	kt     crypto.KeyType // the key it is for (an announcement's: none)
	key    crypto.RoutingKey
	target crypto.Location // where it is routed: the key's location, or an announcement's target
	id     uint64          // the ID it goes under: the stem's, then the one this node gave the search
	htl    uint8           // as received, wire.MaxHTL for this node's own; wire.MaxHTL-1 once it ends the stem here
	hops   uint8           // what is left: lowered by RouteNotFound while backtracking
	stem   uint64          // the stem tag (wire.Request.Stem), while on the stem
	tail   bool            // in the key's neighbourhood: routed by location (wire.Request.Tail)
	// atEnd: the walk began at a tunnel's end, three links from its originator, so that its
	// HTL of 17 does not mean it may be next to the originator: it caches what it finds or
	// inserts as a relay below the stem does (cacheReply, keep).
	atEnd  bool
	tried  map[crypto.NodeID]bool
	busy   bool          // a peer refused it for load, or a stem peer did not accept it in time
	waited time.Duration // how long it has waited for busy peers (waitBackoff)
}

// A kind is what one kind of message adds to the walk: requests (requestKind), inserts
// (insertKind) and announcements (announceKind). Each walk has a kind value of its own, which
// may keep state for it. A fourth kind, such as a tunnel's set-up, fills the same methods.
type kind interface {
	// stems reports whether the kind walks the stem while its HTL is wire.MaxHTL.
	stems() bool
	// nextHTL is the HTL the message carries over p's link when the walk holds htl: the
	// link's coins for requests and inserts (spec §18.2), one less for announcements.
	nextHTL(p *peer, htl uint8) uint8
	// excludes reports whether the walk must not go to the peer id, beyond those it has
	// tried (an announcement's newcomer).
	excludes(id crypto.NodeID) bool
	// via is the one peer the walk goes to, chosen by the node that starts it rather than
	// by routing (the seed a newcomer announces itself through; a tunnel's next hop would be
	// another), or nil: the stem or the key chooses.
	via() *crypto.NodeID
	// message is the message to send: under id, at htl, with the walk's stem tag and tail
	// flag, giving its receiver timeout.
	message(w *walk, id uint64, htl uint8, stem uint64, timeout time.Duration) wire.Message
	// start is this node's own part before it sends anything: an insert kept by a sink,
	// an announcement answered with this node's noderef. end stops the walk with o (an SSK
	// insert whose slot here holds another block).
	start(w *walk) (o outcome, end bool)
	// descend is this node's own part where it starts routing by the key, at once for a
	// walk that came below the stem and where it ends the stem for one that did not: a
	// request looks in the store; an insert that was kept begins its tail. end stops the
	// walk with o.
	descend(w *walk) (o outcome, end bool)
	// answer handles a peer's answer (x.reply nil: it did not accept in time, or the link
	// dropped). end stops the walk with o; otherwise the walk handles RouteNotFound,
	// RejectedLoop, RejectedOverload and silence itself, and the kind has backed off a peer
	// whose answer was of no other use. The walk unregisters the exchange unless o keeps it
	// (o.done).
	answer(w *walk, p *peer, x exchanged) (o outcome, end bool)
	// note is a message that informs an exchange without ending it (Accepted aside): an
	// offer of a node to link to.
	note(w *walk, m wire.Message)
	// exhausted is the outcome where the HTL runs out.
	exhausted(w *walk) outcome
	// ranOut is the outcome where no peer is left, or err (a context's error, or
	// errTooLate) ends the walk first.
	ranOut(w *walk, err error) outcome
}

// outcome is how a walk ended at this node.
type outcome struct {
	// err is nil on success (the block found, the insert kept); otherwise
	// wire.ErrDataNotFound (for an announcement, its normal end), a
	// *wire.RouteNotFoundError with the HTL left, wire.ErrOverloaded, or a
	// *wire.CollisionError, possibly wrapped.
	err error

	block  []byte // a request's block
	source bool   // found in this node's own store

	// For a block found through a peer: the path-folding offer if it came before the data,
	// else the exchange's notes, still registered, where it will arrive, and the function
	// that unregisters it.
	offer  *wire.NodeRef
	offers <-chan wire.Message
	done   func()
}

// routeNotFound is the outcome of a walk that found no route with hops left.
func routeNotFound(hops uint8) outcome {
	return outcome{err: &wire.RouteNotFoundError{HTL: hops}}
}

// errTooLate ends a walk that has too little time left to forward.
var errTooLate = fmt.Errorf("%w: too little time left to forward", wire.ErrRouteNotFound)

// awaitOffer returns the path-folding noderef that came with the data, waiting a short
// while for it if it has not arrived yet.
func (o *outcome) awaitOffer(ctx context.Context) *wire.NodeRef {
	if o.offer != nil || o.offers == nil {
		return o.offer
	}
	return waitOffer(ctx, o.offers)
}

// finish releases what the outcome holds.
func (o *outcome) finish() {
	if o.done != nil {
		o.done()
	}
}

// newWalk makes the walk of a message for key kt, rk (announcements: none, routed towards
// target) that reached this node from a peer (from) at htl, or of this node's own (from nil,
// at wire.MaxHTL), under id with stem tag stem (zero: id is the tag).
func (r *Router) newWalk(k kind, from *crypto.NodeID, kt crypto.KeyType, rk crypto.RoutingKey, target crypto.Location, id uint64, htl uint8, stem uint64, tail bool) *walk {
	w := &walk{r: r, kind: k, from: from, kt: kt, key: rk, target: target, id: id, htl: htl, hops: htl, stem: stem, tail: tail, tried: map[crypto.NodeID]bool{}}
	if from != nil {
		w.tried[*from] = true
	}
	if w.stem == 0 {
		w.stem = id
	}
	return w
}

// run carries the message to its end and returns how it ended here.
func (w *walk) run(ctx context.Context) outcome {
	if o, end := w.kind.start(w); end {
		return o
	}
	if w.onStem() {
		if o, end := w.alongStem(ctx); end {
			return o
		}
	}
	if o, end := w.kind.descend(w); end {
		return o
	}
	return w.search(ctx)
}

// note passes a note of an exchange to the walk's kind.
func (w *walk) note(m wire.Message) { w.kind.note(w, m) }

// onStem reports whether the walk is on the stem: its kind stems and its HTL is the maximum.
func (w *walk) onStem() bool { return w.kind.stems() && w.hops >= wire.MaxHTL }

// alongStem forwards the message along the stem (spec §18.2): to the stem peer its tag picks,
// over that link's coin. If the coin keeps HTL 18, the stem goes on under the same ID; if it
// decrements, this node ends the stem there and sends the message on at HTL 17 under a fresh
// ID, so that the search that starts there is free of the stem's loop-detection entries. A
// peer that refuses the ID as a loop is passed over for the next stem peer, as is one that is
// busy or silent. The stem also ends here, and the walk goes on below it under the fresh ID
// (end false), where a stem peer answered RouteNotFound or none was left: the peers that
// failed outright and the peer that carries the fresh ID are left out of that search, while
// one that only refused the stem's ID as a loop has not seen the fresh one and may be asked.
func (w *walk) alongStem(ctx context.Context) (o outcome, end bool) {
	r := w.r
	next := r.newID()
	r.trace(Event{Kind: EventStemExit, ID: w.id, Next: next, Key: w.key})
	skip := map[crypto.NodeID]bool{}
	hops := uint8(wire.MaxHTL - 1)
	for ctx.Err() == nil {
		p, out := w.nextHop()
		if p == nil {
			if retry, _ := w.waitBackoff(ctx); retry {
				continue
			}
			break
		}
		w.tried[p.id] = true
		timeout, ok := r.hopTimeout(ctx, out)
		if !ok {
			r.unawait(p)
			break
		}
		id, stem := w.id, w.stem
		if out < wire.MaxHTL {
			id, stem = next, 0 // the stem ends over this link
			skip[p.id] = true
		}
		x := r.exchangeHeld(ctx, p.id, p, w.kind.message(w, id, out, stem, timeout), w.note)
		o, end := w.kind.answer(w, p, x)
		if end {
			if o.done == nil {
				x.done()
			}
			return o, true
		}
		x.done()
		var rnf *wire.RouteNotFoundError
		switch err := wire.ReplyError(x.reply); {
		case errors.Is(err, wire.ErrRejectedLoop):
			continue
		case x.reply == nil, errors.Is(err, ErrOverloaded):
			skip[p.id] = true
			r.backOff(p, x.reply != nil)
			w.busy = true
			continue
		case errors.As(err, &rnf):
			hops = min(hops, rnf.HTL)
		}
		break
	}
	w.id, w.htl, w.hops, w.stem, w.tried = next, wire.MaxHTL-1, hops, 0, skip
	return outcome{}, false
}

// search routes the message by key closeness from here (spec §18.3): to the peer nearest the
// target not yet tried, on RouteNotFound(h) to the next with the HTL lowered to h, on
// RejectedLoop to the next, on a refusal for load or silence to the next with the peer backed
// off, waiting a little where every untried peer is busy (waitBackoff).
func (w *walk) search(ctx context.Context) outcome {
	r := w.r
	for {
		if err := ctx.Err(); err != nil {
			return w.kind.ranOut(w, err)
		}
		p, out := w.nextHop()
		if p == nil {
			retry, busy := w.waitBackoff(ctx)
			if retry {
				continue
			}
			w.busy = w.busy || busy
			return w.kind.ranOut(w, nil)
		}
		w.tried[p.id] = true
		if out == 0 {
			r.unawait(p)
			return w.kind.exhausted(w)
		}
		timeout, ok := r.hopTimeout(ctx, out)
		if !ok {
			r.unawait(p)
			return w.kind.ranOut(w, errTooLate)
		}
		x := r.exchangeHeld(ctx, p.id, p, w.kind.message(w, w.id, out, 0, timeout), w.note)
		o, end := w.kind.answer(w, p, x)
		if end {
			if o.done == nil {
				x.done()
			}
			return o
		}
		x.done()
		var rnf *wire.RouteNotFoundError
		switch err := wire.ReplyError(x.reply); {
		case errors.As(err, &rnf):
			w.hops = min(w.hops, rnf.HTL)
			if w.hops == 0 {
				return w.kind.exhausted(w)
			}
		case errors.Is(err, ErrOverloaded):
			w.busy = true
			r.backOff(p, true)
		case x.reply == nil:
			r.backOff(p, false)
		}
	}
}

// sendFailure answers the peer that sent the message id with the failure reply for err.
func (r *Router) sendFailure(to crypto.NodeID, id uint64, err error) {
	r.send(to, failureReply(id, err))
}

// failureReply is the reply that reports err for the message id (wire.ErrorReply, the one
// conversion of outcomes to messages). A walk or a refusal ends only with the outcomes the
// protocol names; any other error here is a broken invariant.
func failureReply(id uint64, err error) wire.Message {
	m, ok := wire.ErrorReply(id, err)
	if !ok {
		panic("routing: an outcome no reply reports: " + err.Error())
	}
	return m
}

// nextHop picks the next peer to try and the HTL to send it: on the stem the stem peer,
// below it the peer that gets closest to the target. Nil if none is left. The peer's place
// for one awaiting message is taken here; the caller hands it to exchangeHeld or gives it
// back (unawait).
func (w *walk) nextHop() (*peer, uint8) {
	r := w.r
	now := r.now()
	r.peers.Lock()
	defer r.peers.Unlock()
	// A peer with MaxAwaiting messages not yet accepted is passed over like a backed-off
	// one, until it answers.
	excluded := func(p *peer) bool {
		return w.tried[p.id] || w.kind.excludes(p.id) || p.awaiting >= r.cfg.MaxAwaiting
	}
	var p *peer
	switch v := w.kind.via(); {
	case v != nil:
		// Chosen by the node that started the walk: its location need not be known yet.
		if q := r.peers.byID[*v]; q != nil && !q.transient && !excluded(q) && !now.Before(q.backoffUntil) {
			p = q
		}
	case w.onStem():
		p = r.stemPeerLocked(w.stem, excluded, now)
	case w.tail:
		// A tail walks to the peer nearest the key by its own location: an insert's, so
		// that its copies land on the nodes nearest the key (spec §18.4); a request's, so
		// that it visits those nodes (spec §18.3).
		p = choosePeerByLocation(r.peerListLocked(), w.target, excluded, now)
	default:
		p = choosePeer(r.peerListLocked(), w.target, excluded, now)
	}
	if p == nil {
		return nil, 0
	}
	p.awaiting++ // the caller's message holds a place from now on (exchangeHeld)
	return p, w.kind.nextHTL(p, w.hops)
}

// stemPeerLocked picks the stem's next hop (spec §18.2): among the peers not excluded, the one
// whose keyed hash with the stem tag is lowest. It is random to everyone else, and the same for
// every request with the same tag: all the requests of one download walk one stem. Callers
// hold peers.
func (r *Router) stemPeerLocked(tag uint64, excluded func(*peer) bool, now time.Time) *peer {
	var best *peer
	var bestH uint64
	var buf [8 + 32 + crypto.KeySize]byte
	copy(buf[8:], r.stemSecret[:])
	binary.BigEndian.PutUint64(buf[:8], tag)
	for _, p := range r.peers.byID {
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

// waitBackoff waits, when every peer not yet tried is busy, until the first of them may be
// tried again, and reports whether there is one to try (retry) and whether any untried peer
// was busy at all (busy: the walk ran out for load, not for want of a route). Under load every
// peer may have refused something a moment ago; failing the walk then would turn a busy
// moment into a lost block.
//
// A walk waits at most relayWait in all, and never for a peer backed off for silence:
// whatever it waits, it waits holding its place at every node before it, and if those places
// are what keeps its peers busy (a flood, say) the waiting feeds itself, while a silent peer
// would most likely cost a backoff and an AcceptTimeout more. A walk that gives up frees its
// places and answers overloaded. The node's own walks wait the same (a stem peer would
// otherwise know the originator as the node that waited longer); its user's patience is
// spent between walks instead (ownRounds), where nothing is held.
func (w *walk) waitBackoff(ctx context.Context) (retry, busy bool) {
	r := w.r
	r.peers.Lock()
	now := r.now()
	var first time.Time
	for _, p := range r.peers.byID {
		if !p.routable() || w.tried[p.id] || w.kind.excludes(p.id) {
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
	r.peers.Unlock()
	if first.IsZero() {
		return false, false
	}
	if w.waited+first.Sub(now) > relayWait {
		return false, true
	}
	w.waited += first.Sub(now)
	t := time.NewTimer(first.Sub(now))
	defer t.Stop()
	select {
	case <-t.C:
		return true, true
	case <-ctx.Done():
		return false, true
	}
}

// Per-hop timing (spec §18.5).
const (
	// hopMargin is what each hop keeps of the time it was given, to pass an answer back
	// before its own requester gives up.
	hopMargin = 200 * time.Millisecond
	// minForwardTime: with less time than this left, a node answers instead of forwarding.
	minForwardTime = 500 * time.Millisecond
	// stemSlack is the time a node on the stem waits beyond the stem's timeout. Every
	// message at HTL 18 carries the same timeout, so the stem's nodes all think they have
	// the same time; the slack lets those nearer the originator outwait those further on,
	// for stems whose hops together take less than this.
	stemSlack = 5 * time.Second
	// awaitPoll is how often a walk that waits for a peer with MaxAwaiting unaccepted
	// messages looks again.
	awaitPoll = 50 * time.Millisecond
	// relayWait is the longest a walk waits for busy peers, in all (waitBackoff).
	relayWait = 250 * time.Millisecond
)

// budget is how long a node may spend on a message with the given HTL and timeout: the
// timeout, at most the node's request timeout, and at HTL 18 the stem's slack on top.
func (r *Router) budget(htl uint8, timeout time.Duration) time.Duration {
	d := min(timeout, r.cfg.RequestTimeout)
	if htl == wire.MaxHTL {
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
	if out == wire.MaxHTL {
		return r.cfg.RequestTimeout, ok
	}
	return min(left, r.cfg.RequestTimeout-hopMargin), ok
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
