package tunnel

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// The originator's side (spec §18.11.2, §18.11.3): the node's own tunnels, grouped by
// session, and the requests and inserts of its user that travel through them.

// tunnel is one of this node's own tunnels.
type tunnel struct {
	t     *Tunnels
	guard crypto.NodeID
	first link // the circuit on the link to the guard

	mu       sync.Mutex
	hops     []ownHop                         // guard first; guarded by mu
	nextSeq  uint64                           // guarded by mu
	pending  map[uint64]chan wire.TunnelInner // answers awaited, by the sequence number asked with; guarded by mu
	inflight int                              // guarded by mu
	err      error                            // why it failed, once it has; guarded by mu
	dead     chan struct{}                    // closed when it fails or is closed

	place int // the session's place it was built for: which guard
	users int // sessions holding it; guarded by t.own's lock

	// retired: its end answered overloaded and it takes no new requests; the session that
	// retired it lets go of it when the last request on it is answered. Guarded by mu.
	retired bool
}

// usable reports whether the tunnel takes new requests.
func (tu *tunnel) usable() bool {
	tu.mu.Lock()
	defer tu.mu.Unlock()
	return tu.err == nil && !tu.retired
}

// ownHop is what the originator holds for one hop of its tunnel.
type ownHop struct {
	id         crypto.NodeID
	fwd, bwd   *crypto.TunnelLayer
	endF, endB *crypto.TunnelEnd
	peers      []*crypto.TunnelAttestation // the hop's list, from its Created
}

func newOwnHop(id crypto.NodeID, k crypto.TunnelHopKeys) ownHop {
	return ownHop{id: id, fwd: crypto.NewTunnelLayer(k.ForwardLayer), bwd: crypto.NewTunnelLayer(k.BackwardLayer),
		endF: crypto.NewTunnelEnd(k.ForwardEnd), endB: crypto.NewTunnelEnd(k.BackwardEnd)}
}

// hopIDs lists the tunnel's hops, guard first.
func (tu *tunnel) hopIDs() []crypto.NodeID {
	tu.mu.Lock()
	defer tu.mu.Unlock()
	ids := make([]crypto.NodeID, len(tu.hops))
	for i, h := range tu.hops {
		ids[i] = h.id
	}
	return ids
}

// open starts a tunnel at its guard: a TunnelCreate, answered by the guard's Created.
func (t *Tunnels) open(ctx context.Context, guard crypto.NodeID) (*tunnel, error) {
	att := t.attestation(guard)
	if att == nil {
		return nil, fmt.Errorf("%w: guard %v has not attested a tunnel key", ErrNoTunnel, guard.Short())
	}
	enc, keys, err := crypto.EncapsulateTunnelHop(att.Key)
	if err != nil {
		return nil, err
	}
	seq := t.randomUint64() >> 1 // 63 bits: room to count up
	tu := &tunnel{t: t, guard: guard, nextSeq: seq + 1, pending: map[uint64]chan wire.TunnelInner{}, dead: make(chan struct{}),
		hops: []ownHop{newOwnHop(guard, keys)}}
	ch := make(chan wire.TunnelInner, 1)
	tu.pending[seq] = ch
	t.circuits.Lock()
	tu.first = link{guard, t.newCircuitLocked(guard)}
	t.circuits.out[tu.first] = outbound{own: tu}
	t.circuits.Unlock()
	t.send(guard, &wire.TunnelCreate{Circuit: tu.first.circuit, Seq: seq, Enc: enc})
	if err := tu.created(ctx, seq, ch); err != nil {
		tu.fail(err)
		return nil, err
	}
	return tu, nil
}

// extend adds a hop at the tunnel's end: the node of attestation a, a peer of the end.
func (tu *tunnel) extend(ctx context.Context, a *crypto.TunnelAttestation) error {
	enc, keys, err := crypto.EncapsulateTunnelHop(a.Key)
	if err != nil {
		return err
	}
	content, err := wire.EncodeTunnelInner(&wire.TunnelExtend{Node: a.Signer, Enc: enc})
	if err != nil {
		return err
	}
	tu.mu.Lock()
	seq, ch, err := tu.sendLocked(content)
	// Added before the answer can come: the new hop's Created is sealed with its keys.
	tu.hops = append(tu.hops, newOwnHop(a.Signer, keys))
	tu.mu.Unlock()
	if err != nil {
		return err
	}
	return tu.created(ctx, seq, ch)
}

// created waits for the newest hop's Created and keeps its peer list.
func (tu *tunnel) created(ctx context.Context, seq uint64, ch chan wire.TunnelInner) error {
	in, err := tu.await(ctx, seq, ch, tu.t.cfg.StepTimeout)
	if err != nil {
		return err
	}
	c, ok := in.(*wire.TunnelCreated)
	if !ok {
		return tu.fail(fmt.Errorf("%w: a hop answered %T to its creation", ErrNoTunnel, in))
	}
	tu.mu.Lock()
	tu.hops[len(tu.hops)-1].peers = c.Peers
	tu.mu.Unlock()
	return nil
}

// sendLocked sends content, sealed for the tunnel's end and wrapped in every hop's layer, in
// the next cell, and registers for its answer. Callers hold mu.
func (tu *tunnel) sendLocked(content []byte) (uint64, chan wire.TunnelInner, error) {
	if tu.err != nil {
		return 0, nil, tu.err
	}
	seq := tu.nextSeq
	tu.nextSeq++
	end := tu.hops[len(tu.hops)-1]
	body := end.endF.Seal(content[:0], seq, content) // in place: content has room (EncodeTunnelInner)
	for i := len(tu.hops) - 1; i >= 0; i-- {
		tu.hops[i].fwd.XOR(seq, body)
	}
	ch := make(chan wire.TunnelInner, 1)
	tu.pending[seq] = ch
	tu.t.send(tu.guard, &wire.TunnelCell{Circuit: tu.first.circuit, Seq: seq, Body: body})
	return seq, ch, nil
}

// await waits for the answer to the cell numbered seq. If none comes within limit the tunnel
// has failed somewhere along it (a hop gone without a word): it is destroyed. If ctx ends
// first, the caller gave up, and the tunnel is fine.
func (tu *tunnel) await(ctx context.Context, seq uint64, ch chan wire.TunnelInner, limit time.Duration) (wire.TunnelInner, error) {
	defer func() {
		tu.mu.Lock()
		delete(tu.pending, seq)
		tu.mu.Unlock()
	}()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case in := <-ch:
		return in, nil
	case <-tu.dead:
		tu.mu.Lock()
		defer tu.mu.Unlock()
		return nil, tu.err
	case <-timer.C:
		return nil, tu.fail(fmt.Errorf("%w: no answer in %v", ErrNoTunnel, limit))
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// exchange sends one request or insert through the tunnel and waits for its answer. The
// caller holds a place in the tunnel's inflight count (pick).
func (tu *tunnel) exchange(ctx context.Context, m wire.TunnelInner) (wire.TunnelInner, error) {
	buf := cellBuffers.Get().(*[wire.TunnelBlockCellBody]byte)
	content, err := wire.EncodeTunnelInnerIn(buf[:0], m)
	if err != nil {
		cellBuffers.Put(buf)
		return nil, err
	}
	tu.mu.Lock()
	seq, ch, err := tu.sendLocked(content)
	tu.mu.Unlock()
	cellBuffers.Put(buf) // Send is done with the cell when it returns (Config.Send)
	if err != nil {
		return nil, err
	}
	return tu.await(ctx, seq, ch, tu.t.cfg.AnswerTimeout)
}

// endID is the node at the tunnel's end.
func (tu *tunnel) endID() crypto.NodeID {
	tu.mu.Lock()
	defer tu.mu.Unlock()
	return tu.hops[len(tu.hops)-1].id
}

// receive takes a cell that came back: every layer off, then the end's seal.
func (tu *tunnel) receive(seq uint64, body []byte) {
	tu.mu.Lock()
	ch := tu.pending[seq]
	if ch == nil || tu.err != nil {
		tu.mu.Unlock()
		return // not asked for, or answered already: a replay or a late answer
	}
	delete(tu.pending, seq)
	for _, h := range tu.hops {
		h.bwd.XOR(seq, body)
	}
	content, err := tu.hops[len(tu.hops)-1].endB.Open(seq, body)
	tu.mu.Unlock()
	var in wire.TunnelInner
	if err == nil {
		in, err = wire.DecodeTunnelInner(content, true)
	}
	if err != nil {
		tu.fail(fmt.Errorf("%w: a cell came back that does not open: %v", ErrNoTunnel, err))
		return
	}
	ch <- in
}

// fail marks the tunnel failed, destroys it, and returns err (or the first reason it failed).
func (tu *tunnel) fail(err error) error { return tu.end(err, wire.DestroyFailed) }

// close destroys a tunnel that is no longer wanted.
func (tu *tunnel) close() { tu.end(fmt.Errorf("%w: tunnel closed", ErrClosed), wire.DestroyClosed) }

// end ends the tunnel for err, telling its guard why unless the guard told this node.
func (tu *tunnel) end(err error, reason wire.DestroyReason) error {
	tu.mu.Lock()
	if tu.err != nil {
		err = tu.err
		tu.mu.Unlock()
		return err
	}
	tu.err = err
	close(tu.dead)
	tu.mu.Unlock()
	tu.t.circuits.Lock()
	o, mine := tu.t.circuits.out[tu.first]
	mine = mine && o.own == tu
	if mine {
		delete(tu.t.circuits.out, tu.first)
	}
	tu.t.circuits.Unlock()
	if mine {
		tu.t.send(tu.guard, &wire.TunnelDestroy{Circuit: tu.first.circuit, Reason: reason})
	}
	return err
}

// failed reports whether the tunnel can no longer be used.
func (tu *tunnel) failed() bool {
	select {
	case <-tu.dead:
		return true
	default:
		return false
	}
}

func destroyError(r wire.DestroyReason) error {
	switch r {
	case wire.DestroyRefused:
		return fmt.Errorf("%w: a hop refused it", ErrNoTunnel)
	case wire.DestroyLinkLost:
		return fmt.Errorf("%w: a link along it went down", ErrNoTunnel)
	case wire.DestroyFailed:
		return fmt.Errorf("%w: it failed along the way", ErrNoTunnel)
	}
	return fmt.Errorf("%w: a hop closed it", ErrNoTunnel)
}

// session is the tunnels of one download or upload (spec §18.11.3): one at first, one more
// for every blocksPerTunnel blocks, each through its own guard. Its lock is taken after the
// tunnels' own lock (t.own), never before: session and sweepSessions hold t.own while they
// take it.
type session struct {
	mu        sync.Mutex
	tunnels   []*tunnel   // index i goes through guard i; guarded by mu
	building  []bool      // a build of tunnel i is under way; guarded by mu
	retiredAt []time.Time // when the tunnel in place i was last retired; guarded by mu
	requested int         // blocks asked for; guarded by mu
	last      time.Time   // last use; guarded by mu
}

// closeSession lets go of the session's tunnels.
func (t *Tunnels) closeSession(s *session) {
	s.mu.Lock()
	tunnels := s.tunnels
	s.tunnels = nil
	s.mu.Unlock()
	for _, tu := range tunnels {
		if tu != nil {
			t.drop(tu)
		}
	}
}

// obtain returns a tunnel for a session's place: a new one through the place's guard, or,
// once the node holds maxOwnPerGuard tunnels there, the least busy of those, shared. A shared
// tunnel's end can tell that the sessions on it come from one originator, as it can for the
// blocks of one session; it cannot tell which.
func (t *Tunnels) obtain(ctx context.Context, place int) (*tunnel, error) {
	t.own.Lock()
	if t.own.closed {
		t.own.Unlock()
		return nil, ErrClosed
	}
	var least *tunnel
	leastLoad, alive := 0, 0
	for _, tu := range t.own.live[place] {
		if !tu.usable() {
			continue
		}
		alive++
		tu.mu.Lock()
		load := tu.inflight
		tu.mu.Unlock()
		if least == nil || load < leastLoad {
			least, leastLoad = tu, load
		}
	}
	if least != nil && alive+t.own.building[place] >= maxOwnPerGuard {
		least.users++
		t.own.Unlock()
		return least, nil
	}
	t.own.building[place]++
	t.own.Unlock()
	tu, err := t.build(ctx, place)
	t.own.Lock()
	t.own.building[place]--
	closed := t.own.closed
	if err == nil && !closed {
		tu.place, tu.users = place, 1
		t.own.live[place] = append(t.own.live[place], tu)
	}
	t.own.Unlock()
	if err == nil && closed {
		tu.close()
		return nil, ErrClosed
	}
	return tu, err
}

// drop lets go of a session's hold on tu: the last to let go closes it.
func (t *Tunnels) drop(tu *tunnel) {
	t.own.Lock()
	tu.users--
	last := tu.users <= 0
	if last {
		live := t.own.live[tu.place]
		if i := slices.Index(live, tu); i >= 0 {
			t.own.live[tu.place] = slices.Delete(live, i, i+1)
		}
	}
	t.own.Unlock()
	if last {
		tu.close()
	}
}

// sweepSessions closes the sessions unused for sessionIdle.
func (t *Tunnels) sweepSessions(now time.Time) {
	t.own.Lock()
	var idle []*session
	for id, s := range t.own.sessions {
		s.mu.Lock()
		if now.Sub(s.last) > sessionIdle {
			idle = append(idle, s)
			delete(t.own.sessions, id)
		}
		s.mu.Unlock()
	}
	t.own.Unlock()
	for _, s := range idle {
		t.closeSession(s)
	}
}

// Get fetches a block for this node's user through one of the session's tunnels. Errors are
// wire's outcomes (wire.ErrDataNotFound, wire.ErrRouteNotFound, wire.ErrOverloaded),
// ErrNoTunnel, or the context's. The block is not verified here.
func (t *Tunnels) Get(ctx context.Context, sessionID uint64, kt crypto.KeyType, rk crypto.RoutingKey) ([]byte, error) {
	in, err := t.use(ctx, sessionID, rk, func(id uint64) wire.TunnelInner {
		return &wire.TunnelRequest{ID: id, KeyType: kt, Key: rk}
	})
	if err != nil {
		return nil, err
	}
	switch in := in.(type) {
	case *wire.TunnelData:
		if in.KeyType != kt {
			return nil, fmt.Errorf("%w: the end answered a %v request with a %v block", wire.ErrDataNotFound, kt, in.KeyType)
		}
		return in.Block, nil
	case *wire.TunnelResult:
		if err := resultError(in.Code); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w: the end answered a request with %T", wire.ErrDataNotFound, in)
}

// Put inserts a block for this node's user through one of the session's tunnels: nil once
// the network holds it, a *wire.CollisionError for an SSK slot that holds another block, or
// as Get.
func (t *Tunnels) Put(ctx context.Context, sessionID uint64, kt crypto.KeyType, block []byte) error {
	rk, err := crypto.BlockRoutingKey(kt, block)
	if err != nil {
		return err
	}
	in, err := t.use(ctx, sessionID, rk, func(id uint64) wire.TunnelInner {
		return &wire.TunnelInsert{ID: id, KeyType: kt, Block: block}
	})
	if err != nil {
		return err
	}
	switch in := in.(type) {
	case *wire.TunnelCollision:
		return &wire.CollisionError{Existing: in.Block}
	case *wire.TunnelResult:
		return resultError(in.Code)
	}
	return fmt.Errorf("%w: the end answered an insert with %T", wire.ErrRouteNotFound, in)
}

// useAttempts is how many tunnels one request may be sent through: a tunnel that fails under
// it (a hop gone, a link lost) is replaced and the request sent again.
const useAttempts = 3

// use sends a request or insert through the session's least busy tunnel and returns the
// answer, building tunnels as the session needs them.
func (t *Tunnels) use(ctx context.Context, sessionID uint64, rk crypto.RoutingKey, msg func(id uint64) wire.TunnelInner) (wire.TunnelInner, error) {
	s, err := t.session(sessionID)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.requested++
	want := min(t.cfg.MaxTunnels, 1+(s.requested-1)/blocksPerTunnel)
	s.mu.Unlock()
	var lastErr error
	for attempt := range useAttempts {
		tu, err := t.pick(ctx, s, want)
		if err != nil {
			return nil, err
		}
		in, tu, err := t.exchangeHedged(ctx, s, tu, func() wire.TunnelInner { return msg(t.randomUint64()) }, func(tu *tunnel) {
			t.trace(Event{Kind: EventRequest, Hops: tu.hopIDs(), Key: rk, Session: sessionID})
		})
		// An end that answers overloaded is kept busy (a flood at it, or more than it can
		// serve): the request goes again through another tunnel, where the stem's retry
		// would have walked elsewhere (spec §18.11.8).
		again := err == nil && overloaded(in) && attempt < useAttempts-1 && t.retire(s, tu)
		t.releasePlace(tu)
		if again {
			continue
		}
		if err == nil {
			return in, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		lastErr = err
	}
	return nil, lastErr
}

// releasePlace gives back the place a request held in tu (pick), and lets go of tu if it was
// retired and this was its last request.
func (t *Tunnels) releasePlace(tu *tunnel) {
	tu.mu.Lock()
	tu.inflight--
	last := tu.retired && tu.inflight == 0
	tu.mu.Unlock()
	if last {
		t.drop(tu)
	}
}

// answered is one tunnel's answer to a request or insert.
type answered struct {
	in  wire.TunnelInner
	err error
	tu  *tunnel
}

// final reports whether an answer ends a request whatever another tunnel would answer: the
// block, an insert kept, an SSK slot that holds another block. Not found, no route and
// overloaded are one end's view; another end may do better.
func (a answered) final() bool {
	if a.err != nil {
		return false
	}
	switch in := a.in.(type) {
	case *wire.TunnelData, *wire.TunnelCollision:
		return true
	case *wire.TunnelResult:
		return in.Code == wire.ResultInserted
	}
	return false
}

// exchangeHedged sends a request or insert through tu, whose place the caller holds, and
// returns the answer and the tunnel that gave it, whose place the caller then holds. If no
// answer comes within HedgeAfter, the same message goes also through another tunnel of the
// session (its least busy other one, or one built in the session's next place, up to
// MaxTunnels), as the fetch hedges a slow block: an end that a flood keeps busy, or whose
// search wandered, no longer holds the user's block for the whole answer timeout. The first
// final answer wins; otherwise the last one. The hedge shows nothing new to the session's
// guards and ends: a cell into a tunnel of the session, and a key at an end that already
// serves it; a place built for it is one the session would take at 64 blocks, within the
// MaxTunnels that bound the colluders' draws (spec §18.11.8).
func (t *Tunnels) exchangeHedged(ctx context.Context, s *session, tu *tunnel, msg func() wire.TunnelInner, sent func(*tunnel)) (wire.TunnelInner, *tunnel, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	answers := make(chan answered, 2)
	start := func(tu *tunnel) {
		sent(tu)
		m := msg()
		go func() {
			in, err := tu.exchange(ctx, m)
			answers <- answered{in, err, tu}
		}()
	}
	start(tu)
	running := 1
	hedge := time.NewTimer(t.cfg.HedgeAfter)
	defer hedge.Stop()
	hedged := make(chan *tunnel, 1)
	var best answered
	for running > 0 {
		select {
		case <-hedge.C:
			if ctx.Err() != nil {
				continue
			}
			running++ // the hedge's search for a tunnel, then its exchange
			// The slow end is an end no new tunnel should take for a while, the hedge's
			// least of all: drawn again, it would hold the hedge as it holds this one.
			t.markBusyEnd(tu.endID())
			go func() { hedged <- t.pickOther(ctx, s, tu) }()
		case other := <-hedged:
			running--
			switch {
			case other == nil:
			case ctx.Err() != nil: // answered meanwhile
				t.releasePlace(other)
			default:
				start(other)
				running++
			}
		case a := <-answers:
			running--
			if best.tu == nil || a.final() || best.err != nil && a.err == nil {
				if best.tu != nil {
					t.releasePlace(best.tu)
				}
				best = a
			} else {
				t.releasePlace(a.tu)
			}
			if a.final() {
				cancel() // the other's exchange ends at once; its end's search goes on, unheard
			}
		}
	}
	return best.in, best.tu, best.err
}

// pickOther takes a place in the session's least busy usable tunnel that does not end where
// not ends, with room for a request, or builds the tunnel of a place the session has not
// filled (up to MaxTunnels places) and takes a place in it. Nil if there is none and none can
// be built.
func (t *Tunnels) pickOther(ctx context.Context, s *session, not *tunnel) *tunnel {
	notEnd := not.endID()
	s.mu.Lock()
	best, load := leastBusyLocked(s, func(tu *tunnel) bool { return tu == not || tu.endID() == notEnd })
	if best != nil && load < maxEndInFlight {
		best.mu.Lock()
		best.inflight++
		best.mu.Unlock()
		s.mu.Unlock()
		return best
	}
	place := -1 // the first place with no tunnel and no build under way
	for i, tu := range s.tunnels {
		if tu == nil && !s.building[i] {
			place = i
			break
		}
	}
	if place < 0 && s.tunnels != nil && len(s.tunnels) < t.cfg.MaxTunnels {
		s.tunnels = append(s.tunnels, nil)
		s.building = append(s.building, false)
		place = len(s.tunnels) - 1
	}
	if place < 0 {
		s.mu.Unlock()
		return nil
	}
	s.building[place] = true
	s.mu.Unlock()
	tu, err := t.obtain(ctx, place)
	t.install(s, place, tu)
	if err != nil || tu == nil {
		return nil
	}
	tu.mu.Lock()
	defer tu.mu.Unlock()
	if tu.err != nil || tu.retired {
		return nil
	}
	tu.inflight++
	return tu
}

// retireEvery is how often a session may retire the tunnel in one place: each new tunnel
// draws a new end, one more chance for colluders to hold it, so an end that says it is busy
// (which a colluding guard cannot make an honest end say) replaces it at most this often.
const retireEvery = 10 * time.Second

// overloaded reports whether an end's answer says it is too busy to search.
func overloaded(in wire.TunnelInner) bool {
	r, ok := in.(*wire.TunnelResult)
	return ok && r.Code == wire.ResultOverloaded
}

// retire takes tu out of the session's use, so that its place gets a new tunnel, unless the
// place's tunnel was retired within retireEvery or tu is not the session's any more. The
// session lets go of tu when its last request is answered (use). Its end counts as busy for
// the next tunnels' draw; that takes the tunnels' lock, which is taken after the session's
// is let go: session() takes the two the other way round.
func (t *Tunnels) retire(s *session, tu *tunnel) bool {
	if !t.takeOut(s, tu) {
		return false
	}
	t.markBusyEnd(tu.endID())
	t.trace(Event{Kind: EventRetired, Hops: tu.hopIDs()})
	return true
}

// takeOut is retire's change to the session, under its lock.
func (t *Tunnels) takeOut(s *session, tu *tunnel) bool {
	now := t.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.Index(s.tunnels, tu)
	if i < 0 {
		return false
	}
	for len(s.retiredAt) <= i {
		s.retiredAt = append(s.retiredAt, time.Time{})
	}
	if !s.retiredAt[i].IsZero() && now.Sub(s.retiredAt[i]) < retireEvery {
		return false
	}
	tu.mu.Lock()
	if tu.retired || tu.err != nil {
		tu.mu.Unlock()
		return false
	}
	tu.retired = true
	tu.mu.Unlock()
	s.retiredAt[i] = now
	s.tunnels[i] = nil
	return true
}

// session returns the session's tunnels, making the session if it is new.
func (t *Tunnels) session(id uint64) (*session, error) {
	t.own.Lock()
	defer t.own.Unlock()
	if t.own.closed {
		return nil, ErrClosed
	}
	s := t.own.sessions[id]
	if s == nil {
		s = &session{}
		t.own.sessions[id] = s
	}
	s.mu.Lock()
	s.last = t.cfg.Now()
	s.mu.Unlock()
	return s, nil
}

// pick returns the least busy of the session's tunnels, building the first if there is none
// and starting builds in the background of those it should have beyond.
func (t *Tunnels) pick(ctx context.Context, s *session, want int) (*tunnel, error) {
	s.mu.Lock()
	for len(s.tunnels) < want {
		s.tunnels = append(s.tunnels, nil)
		s.building = append(s.building, false)
	}
	var failed []*tunnel
	defer func() {
		for _, tu := range failed {
			t.drop(tu)
		}
	}()
	for i, tu := range s.tunnels {
		if tu != nil && !tu.usable() {
			// Failed, or retired by another session that shares it: let go of it.
			failed = append(failed, tu)
			s.tunnels[i], tu = nil, nil
		}
		// The first place is built by the request that finds it empty (below); the others
		// in the background, while requests go through the tunnels there are.
		if tu == nil && i > 0 && !s.building[i] {
			s.building[i] = true
			t.wg.Add(1)
			go func() {
				defer t.wg.Done()
				tu, _ := t.obtain(t.ctx, i)
				t.install(s, i, tu)
			}()
		}
	}
	best, bestLoad := leastBusyLocked(s, nil)
	if best != nil && bestLoad >= maxEndInFlight {
		// Every tunnel carries as many requests as its end takes (spec §18.11.6): wait
		// for one to finish.
		s.mu.Unlock()
		return t.waitRoom(ctx, s, want)
	}
	if best != nil {
		best.mu.Lock()
		best.inflight++ // the place is taken while s.mu is held: no other pick sees it free
		best.mu.Unlock()
		s.mu.Unlock()
		return best, nil
	}
	if s.building[0] {
		s.mu.Unlock()
		return t.waitFirst(ctx, s)
	}
	s.building[0] = true
	s.mu.Unlock()
	tu, err := t.obtain(ctx, 0)
	t.install(s, 0, tu)
	if err != nil {
		return nil, err
	}
	return t.pick(ctx, s, want)
}

// leastBusyLocked is the session's usable tunnel with the fewest requests in flight, and that
// number, among those skip (if not nil) does not leave out; nil if there is none. Callers hold
// s.mu.
func leastBusyLocked(s *session, skip func(*tunnel) bool) (best *tunnel, load int) {
	for _, tu := range s.tunnels {
		if tu == nil || !tu.usable() || skip != nil && skip(tu) {
			continue
		}
		tu.mu.Lock()
		n := tu.inflight
		tu.mu.Unlock()
		if best == nil || n < load {
			best, load = tu, n
		}
	}
	return best, load
}

// install puts a built tunnel in its place in the session (nothing if the build failed, or
// the session closed meanwhile, in which case the tunnel is closed).
func (t *Tunnels) install(s *session, i int, tu *tunnel) {
	s.mu.Lock()
	closed := s.tunnels == nil
	if !closed && i < len(s.tunnels) {
		s.building[i] = false
		if tu != nil {
			s.tunnels[i] = tu
		}
	}
	s.mu.Unlock()
	if closed && tu != nil {
		t.drop(tu)
	}
}

// waitFirst waits for the session's first tunnel, which another request is building.
func (t *Tunnels) waitFirst(ctx context.Context, s *session) (*tunnel, error) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.ctx.Done():
			return nil, ErrClosed
		case <-tick.C:
		}
		s.mu.Lock()
		var tu *tunnel
		if len(s.tunnels) > 0 {
			tu = s.tunnels[0]
		}
		building := len(s.building) > 0 && s.building[0]
		s.mu.Unlock()
		if tu != nil && tu.usable() || !building {
			return t.pick(ctx, s, 1)
		}
	}
}

// waitRoom waits until one of the session's tunnels has room for another request.
func (t *Tunnels) waitRoom(ctx context.Context, s *session, want int) (*tunnel, error) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.ctx.Done():
			return nil, ErrClosed
		case <-tick.C:
		}
		s.mu.Lock()
		for _, tu := range s.tunnels {
			if tu == nil || !tu.usable() {
				continue
			}
			tu.mu.Lock()
			room := tu.inflight < maxEndInFlight
			tu.mu.Unlock()
			if room {
				s.mu.Unlock()
				return t.pick(ctx, s, want)
			}
		}
		s.mu.Unlock()
	}
}
