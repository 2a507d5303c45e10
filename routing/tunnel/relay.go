package tunnel

import (
	"context"
	"errors"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// A node's place on someone else's tunnel (spec §18.11.2, §18.11.5, §18.11.6): the hop the
// originator created here, which relays cells between its predecessor and, once extended,
// its successor, or, while it has none, is the tunnel's end.

// hop is one circuit through this node.
type hop struct {
	prev       link // toward the originator: the peer that created it here, and that peer's ID
	fwd, bwd   *crypto.TunnelLayer
	endF, endB *crypto.TunnelEnd
	ctx        context.Context // ends the searches it serves as the end
	cancel     context.CancelFunc

	// Guarded by circuits' lock.
	next     *link  // toward the end, once extended
	fwdWin   window // sequence numbers of cells going away from the originator
	bwdWin   window // and of cells coming back, this hop's own answers included
	last     time.Time
	inflight int // requests and inserts served as the end
	gone     bool
}

// receiveCreate admits a TunnelCreate: the limits are checked first, the key exchange runs
// on a goroutine of its own.
func (t *Tunnels) receiveCreate(from crypto.NodeID, m *wire.TunnelCreate) {
	now := t.cfg.Now()
	t.circuits.Lock()
	_, dup := t.circuits.in[link{from, m.Circuit}]
	full := len(t.circuits.in) >= maxCircuits
	t.circuits.Unlock()
	t.peers.Lock()
	p := t.peers.m[from]
	ok := p != nil && !dup && !full && p.in < maxCircuitsPerPeer && p.creates.take(now)
	if ok {
		p.in++
	}
	t.peers.Unlock()
	if !ok {
		if !dup { // a duplicate ID refers to a live circuit, which the refusal would destroy
			t.send(from, &wire.TunnelDestroy{Circuit: m.Circuit, Back: true, Reason: wire.DestroyRefused})
		}
		return
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		if !t.create(from, m, now) {
			t.release(from)
			t.send(from, &wire.TunnelDestroy{Circuit: m.Circuit, Back: true, Reason: wire.DestroyRefused})
		}
	}()
}

// release gives back a circuit's place in its creator's allowance.
func (t *Tunnels) release(from crypto.NodeID) {
	t.peers.Lock()
	if p := t.peers.m[from]; p != nil && p.in > 0 {
		p.in--
	}
	t.peers.Unlock()
}

// create opens the hop and answers with Created and this node's peer list. It reports false
// for an encapsulation seen before under this key (a replay), or if the tunnels are closing.
func (t *Tunnels) create(from crypto.NodeID, m *wire.TunnelCreate, now time.Time) bool {
	sum := encHash(m.Enc[:])
	t.keys.Lock()
	replay := t.keys.used[sum]
	t.keys.used[sum] = true
	key := t.keys.cur
	worn := len(t.keys.used) >= maxKeyUses
	if worn {
		// The table of encapsulations seen is bounded: a key that has taken this many is
		// replaced, which empties it (and is announced to the peers).
		t.rotateKeyLocked(now)
	}
	t.keys.Unlock()
	if worn {
		t.announceKey()
	}
	if replay {
		return false
	}
	keys, err := key.DecapsulateTunnelHop(m.Enc[:])
	if err != nil {
		return false // an encapsulation that does not decapsulate (X25519's low-order points)
	}
	h := &hop{prev: link{from, m.Circuit}, last: now,
		fwd: crypto.NewTunnelLayer(keys.ForwardLayer), bwd: crypto.NewTunnelLayer(keys.BackwardLayer),
		endF: crypto.NewTunnelEnd(keys.ForwardEnd), endB: crypto.NewTunnelEnd(keys.BackwardEnd)}
	h.ctx, h.cancel = context.WithCancel(t.ctx)
	t.circuits.Lock()
	if t.ctx.Err() != nil || t.circuits.in[h.prev] != nil {
		t.circuits.Unlock()
		h.cancel()
		return false
	}
	t.circuits.in[h.prev] = h
	t.circuits.Unlock()
	t.answer(h, m.Seq, &wire.TunnelCreated{Peers: t.peerList()})
	return true
}

// answer sends what this hop, as the end, says back for the cell numbered seq.
func (t *Tunnels) answer(h *hop, seq uint64, m wire.TunnelInner) {
	buf := cellBuffers.Get().(*[wire.TunnelBlockCellBody]byte)
	defer cellBuffers.Put(buf) // Send is done with the cell when it returns (Config.Send)
	content, err := wire.EncodeTunnelInnerIn(buf[:0], m)
	if err != nil {
		panic("tunnel: " + err.Error()) // every answer is made here, within the limits
	}
	t.circuits.Lock()
	ok := !h.gone && h.bwdWin.admit(seq)
	t.circuits.Unlock()
	if !ok {
		return
	}
	body := h.endB.Seal(content[:0], seq, content) // in place: content has room (EncodeTunnelInner)
	h.bwd.XOR(seq, body)
	t.send(h.prev.peer, &wire.TunnelCell{Circuit: h.prev.circuit, Back: true, Seq: seq, Body: body})
}

// receiveForward passes a cell on towards the end, or handles it here if this hop is the end.
func (t *Tunnels) receiveForward(from crypto.NodeID, m *wire.TunnelCell) {
	t.circuits.Lock()
	h := t.circuits.in[link{from, m.Circuit}]
	if h == nil || !h.fwdWin.admit(m.Seq) {
		t.circuits.Unlock()
		return
	}
	h.last = t.cfg.Now()
	next := h.next
	t.circuits.Unlock()
	h.fwd.XOR(m.Seq, m.Body)
	if next != nil {
		t.relayed.Add(1)
		t.send(next.peer, &wire.TunnelCell{Circuit: next.circuit, Seq: m.Seq, Body: m.Body})
		return
	}
	t.atEnd(h, m.Seq, m.Body)
}

// receiveBackward passes a cell back towards the originator, or hands it to this node's own
// tunnel if this node is its originator.
func (t *Tunnels) receiveBackward(from crypto.NodeID, m *wire.TunnelCell) {
	t.circuits.Lock()
	o, ok := t.circuits.out[link{from, m.Circuit}]
	if !ok {
		t.circuits.Unlock()
		return
	}
	if o.own != nil {
		t.circuits.Unlock()
		o.own.receive(m.Seq, m.Body)
		return
	}
	h := o.relay
	if !h.bwdWin.admit(m.Seq) {
		t.circuits.Unlock()
		return
	}
	h.last = t.cfg.Now()
	t.circuits.Unlock()
	h.bwd.XOR(m.Seq, m.Body)
	t.relayed.Add(1)
	t.send(h.prev.peer, &wire.TunnelCell{Circuit: h.prev.circuit, Back: true, Seq: m.Seq, Body: m.Body})
}

// atEnd opens a cell meant for this hop, the tunnel's end, and acts on it. A cell that does
// not open, or holds what an end does not take, destroys the tunnel (spec §18.11.5).
func (t *Tunnels) atEnd(h *hop, seq uint64, body []byte) {
	content, err := h.endF.Open(seq, body)
	var in wire.TunnelInner
	if err == nil {
		in, err = wire.DecodeTunnelInner(content, false)
	}
	if err != nil {
		t.log.Debug("tunnel cell refused at its end", "peer", h.prev.peer, "err", err)
		t.destroyHop(h, wire.DestroyFailed, nil)
		return
	}
	switch in := in.(type) {
	case *wire.TunnelExtend:
		t.extend(h, seq, in)
	case *wire.TunnelRequest, *wire.TunnelInsert:
		t.circuits.Lock()
		busy := h.inflight >= maxEndInFlight
		if !busy {
			h.inflight++
		}
		t.circuits.Unlock()
		if busy {
			t.answer(h, seq, &wire.TunnelResult{ID: innerID(in), Code: wire.ResultOverloaded})
			return
		}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			t.answer(h, seq, t.serve(h.ctx, in))
			t.circuits.Lock()
			h.inflight--
			t.circuits.Unlock()
		}()
	}
}

func innerID(m wire.TunnelInner) uint64 {
	switch m := m.(type) {
	case *wire.TunnelRequest:
		return m.ID
	case *wire.TunnelInsert:
		return m.ID
	}
	return 0
}

// serve searches for or inserts what came out of the tunnel, through End, and says how it went.
func (t *Tunnels) serve(ctx context.Context, m wire.TunnelInner) wire.TunnelInner {
	switch m := m.(type) {
	case *wire.TunnelRequest:
		block, err := t.cfg.End.Fetch(ctx, m.KeyType, m.Key)
		if err == nil {
			// End verified it against the key (hashing it again here cost a cold fetch 4%
			// of its CPU); its size is checked, as the cell's encoding takes only a block of
			// its kind's size.
			if len(block) == m.KeyType.BlockSize() {
				return &wire.TunnelData{ID: m.ID, KeyType: m.KeyType, Block: block}
			}
			err = wire.ErrDataNotFound
		}
		return &wire.TunnelResult{ID: m.ID, Code: resultCode(err)}
	case *wire.TunnelInsert:
		rk, err := crypto.BlockRoutingKey(m.KeyType, m.Block)
		if err == nil {
			err = t.cfg.End.Insert(ctx, m.KeyType, rk, m.Block)
		}
		var coll *wire.CollisionError
		switch {
		case err == nil:
			return &wire.TunnelResult{ID: m.ID, Code: wire.ResultInserted}
		case errors.As(err, &coll) && len(coll.Existing) == crypto.SSKBlockSize:
			return &wire.TunnelCollision{ID: m.ID, Block: coll.Existing}
		}
		return &wire.TunnelResult{ID: m.ID, Code: resultCode(err)}
	}
	panic("tunnel: serve of a message an end does not serve")
}

// resultCode is the code of Result for an outcome; what is neither a route not found nor an
// overload counts as data not found. resultError is its inverse.
func resultCode(err error) wire.TunnelResultCode {
	switch {
	case errors.Is(err, wire.ErrRouteNotFound):
		return wire.ResultRouteNotFound
	case errors.Is(err, wire.ErrOverloaded):
		return wire.ResultOverloaded
	}
	return wire.ResultDataNotFound
}

func resultError(c wire.TunnelResultCode) error {
	switch c {
	case wire.ResultInserted:
		return nil
	case wire.ResultRouteNotFound:
		return wire.ErrRouteNotFound
	case wire.ResultOverloaded:
		return wire.ErrOverloaded
	}
	return wire.ErrDataNotFound
}

// extend joins the hop to its successor: a TunnelCreate to the peer the originator named,
// whose answers this hop will relay back. The peer must be linked here and be neither the
// predecessor nor this node, and the hop must not have been extended before.
func (t *Tunnels) extend(h *hop, seq uint64, x *wire.TunnelExtend) {
	t.peers.Lock()
	linked := t.peers.m[x.Node] != nil
	t.peers.Unlock()
	t.circuits.Lock()
	if !linked || x.Node == h.prev.peer || h.next != nil || h.gone {
		t.circuits.Unlock()
		t.destroyHop(h, wire.DestroyFailed, nil)
		return
	}
	c := t.newCircuitLocked(x.Node)
	h.next = &link{x.Node, c}
	t.circuits.out[*h.next] = outbound{relay: h}
	t.circuits.Unlock()
	t.send(x.Node, &wire.TunnelCreate{Circuit: c, Seq: seq, Enc: x.Enc})
}

// receiveDestroy ends the circuit a TunnelDestroy names and passes it on.
func (t *Tunnels) receiveDestroy(from crypto.NodeID, m *wire.TunnelDestroy) {
	t.circuits.Lock()
	var h *hop
	var own *tunnel
	if m.Back {
		o := t.circuits.out[link{from, m.Circuit}]
		h, own = o.relay, o.own
	} else {
		h = t.circuits.in[link{from, m.Circuit}]
	}
	t.circuits.Unlock()
	switch {
	case own != nil:
		// The guard told this node: the circuit is gone there, nothing to send back.
		t.circuits.Lock()
		delete(t.circuits.out, own.first)
		t.circuits.Unlock()
		own.fail(destroyError(m.Reason))
	case h != nil:
		t.destroyHop(h, m.Reason, &from)
	}
}

// destroyHop forgets a hop and tells its other sides, all but from (the side that told this
// node, if any).
func (t *Tunnels) destroyHop(h *hop, reason wire.DestroyReason, from *crypto.NodeID) {
	t.circuits.Lock()
	if h.gone {
		t.circuits.Unlock()
		return
	}
	h.gone = true
	delete(t.circuits.in, h.prev)
	next := h.next
	if next != nil {
		delete(t.circuits.out, *next)
	}
	t.circuits.Unlock()
	h.cancel()
	t.release(h.prev.peer)
	if from == nil || *from != h.prev.peer {
		t.send(h.prev.peer, &wire.TunnelDestroy{Circuit: h.prev.circuit, Back: true, Reason: reason})
	}
	if next != nil && (from == nil || *from != next.peer) {
		t.send(next.peer, &wire.TunnelDestroy{Circuit: next.circuit, Reason: reason})
	}
}

// sweepCircuits destroys the circuits no cell has crossed for circuitIdle.
func (t *Tunnels) sweepCircuits(now time.Time) {
	t.circuits.Lock()
	var idle []*hop
	for _, h := range t.circuits.in {
		if now.Sub(h.last) > circuitIdle {
			idle = append(idle, h)
		}
	}
	t.circuits.Unlock()
	for _, h := range idle {
		t.destroyHop(h, wire.DestroyClosed, nil)
	}
}
