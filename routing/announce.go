package routing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// Announcements (spec §18.8): a newcomer introduces itself to the network through a peer; the
// announcement is walked towards a target location, and the nodes on its way that want a peer
// answer with their noderefs. It is a walk of its own kind: no stem (the newcomer names itself
// in it: there is no originator to hide), one HTL less at every hop.

// announceHTL is how far an announcement travels towards its target.
const announceHTL = 10

// announceTimeout bounds an announcement at every node.
const announceTimeout = 30 * time.Second

// Announce introduces this node to the network through a connected peer (opennet
// bootstrap): an announcement travels towards target, nodes along the way that want a peer
// answer with their noderefs, and this node links to the last want of them (those that
// answered from nearest the target). It returns how many offers it received.
func (r *Router) Announce(ctx context.Context, via crypto.NodeID, target crypto.Location, want int) (int, error) {
	if r.cfg.Ref == nil {
		return 0, ErrNoPeers
	}
	ref := r.cfg.Ref()
	id := r.newID()
	ctx, cancel := context.WithTimeout(ctx, announceTimeout)
	defer cancel()
	// The link to via may be up at the transport a moment before this router has heard of
	// it (Maintain dials and announces at once).
	if !r.awaitPeer(ctx, via) {
		return 0, fmt.Errorf("announce through %v: %w", via, ErrNoPeers)
	}
	k := &announceKind{ref: ref, seed: &via}
	// The newcomer holds its announcement one HTL above what it sends.
	o := r.newWalk(k, nil, 0, crypto.RoutingKey{}, target, id, announceHTL+1, 0, false).run(ctx)
	for _, offer := range k.offers[max(0, len(k.offers)-want):] {
		r.considerOffer(offer)
	}
	if len(k.offers) == 0 && o.err != nil && !isEnd(o.err) {
		return 0, o.err
	}
	return len(k.offers), nil
}

// awaitPeer waits until id is among this router's peers, and reports whether it is.
func (r *Router) awaitPeer(ctx context.Context, id crypto.NodeID) bool {
	for {
		r.peers.Lock()
		_, ok := r.peers.byID[id]
		r.peers.Unlock()
		if ok {
			return true
		}
		t := time.NewTimer(awaitPoll)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
}

// handleAnnouncement walks an announcement on towards its target, answering it first with
// this node's own noderef if this node wants the newcomer as a peer, and passing back the
// offers from further on. Like a request, an announcement backtracks: a node with no route
// onward answers RouteNotFound with the HTL it has left, and the node before it tries its
// next peer with that HTL; it ends with DataNotFound when its HTL runs out.
func (r *Router) handleAnnouncement(from crypto.NodeID, m *wire.Announcement) {
	defer r.release(from)
	r.peers.Lock()
	if p := r.peers.byID[from]; p != nil && p.transient {
		p.announcing++
	}
	r.peers.Unlock()
	r.send(from, &wire.Accepted{ID: m.ID})
	ctx, cancel := context.WithTimeout(r.ctx, announceTimeout)
	defer cancel()
	o := r.newWalk(&announceKind{ref: m.Ref}, &from, 0, crypto.RoutingKey{}, m.Target, m.ID, m.HTL, 0, false).run(ctx)
	r.sendFailure(from, m.ID, o.err)
	r.peers.Lock()
	p := r.peers.byID[from]
	transient := p != nil && p.transient
	if transient {
		p.announcing--
	}
	r.peers.Unlock()
	if transient {
		// A seed's link to a newcomer was for this announcement only. It is closed after a
		// while, not at once: closing a link drops what is still queued on it, and the
		// announcement's last offers and its end are.
		r.spawn(func() {
			t := time.NewTimer(transientLinger)
			defer t.Stop()
			select {
			case <-t.C:
				r.peers.Lock()
				p := r.peers.byID[from]
				last := p != nil && p.transient && p.announcing == 0
				r.peers.Unlock()
				if last {
					r.t.Disconnect(from)
				}
			case <-r.ctx.Done():
			}
		})
	}
}

// announceKind is the walk of an announcement carrying the newcomer's noderef ref. At the
// newcomer, seed is the one peer it goes to, and offers collects the answers.
type announceKind struct {
	ref    *wire.NodeRef
	seed   *crypto.NodeID
	offers []*wire.NodeRef
}

func (*announceKind) stems() bool                      { return false }
func (*announceKind) nextHTL(_ *peer, htl uint8) uint8 { return htl - 1 }
func (*announceKind) descend(*walk) (outcome, bool)    { return outcome{}, false }
func (*announceKind) exhausted(*walk) outcome          { return outcome{err: ErrDataNotFound} }
func (*announceKind) ranOut(w *walk, _ error) outcome  { return routeNotFound(w.hops) }
func (k *announceKind) excludes(id crypto.NodeID) bool { return id == k.ref.ID() }
func (k *announceKind) via() *crypto.NodeID            { return k.seed }
func (k *announceKind) message(w *walk, id uint64, htl uint8, _ uint64, _ time.Duration) wire.Message {
	return &wire.Announcement{ID: id, HTL: htl, Target: w.target, Ref: k.ref}
}

// start answers the newcomer with this node's noderef if it wants it as a peer (and it is
// not this node, nor the peer the announcement came from).
func (k *announceKind) start(w *walk) (outcome, bool) {
	r := w.r
	newcomer := k.ref.ID()
	if r.cfg.Ref == nil || newcomer == r.cfg.Ref().ID() || w.from != nil && newcomer == *w.from {
		return outcome{}, false
	}
	if r.WantsPeer(newcomer) {
		k.note(w, &wire.AnnouncementReply{ID: w.id, Ref: r.cfg.Ref()})
	}
	return outcome{}, false
}

// note passes an offer back towards the newcomer, or at the newcomer keeps it.
func (k *announceKind) note(w *walk, m wire.Message) {
	o, ok := m.(*wire.AnnouncementReply)
	if !ok {
		return
	}
	if w.from == nil {
		k.offers = append(k.offers, o.Ref)
		return
	}
	w.r.send(*w.from, &wire.AnnouncementReply{ID: w.id, Ref: o.Ref})
}

// answer: DataNotFound, the announcement's HTL run out further on, ends it; an answer no
// announcement expects backs the peer off.
func (*announceKind) answer(w *walk, p *peer, x exchanged) (outcome, bool) {
	switch err := wire.ReplyError(x.reply); {
	case errors.Is(err, ErrDataNotFound):
		return outcome{err: err}, true
	case err == nil && x.reply != nil:
		w.r.backOff(p, false)
	}
	return outcome{}, false
}

// isEnd reports whether err is how an announcement ends normally: its HTL ran out.
func isEnd(err error) bool { return errors.Is(err, ErrDataNotFound) }
