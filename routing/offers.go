package routing

import (
	"context"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// Offers of blocks that failed recently (spec §18.6, Freenet's ULPRs): when a block arrives
// that peers asked for in vain, they are offered it.

// blockArrived offers a block that has just arrived to the peers that asked for it in vain
// recently.
func (r *Router) blockArrived(kt crypto.KeyType, rk crypto.RoutingKey) {
	r.failed.Lock()
	e := r.failed.table.take(failKey{kt, rk})
	r.failed.Unlock()
	if e == nil {
		return
	}
	for _, id := range e.askers {
		r.send(id, &wire.OfferKey{KeyType: kt, Key: rk})
	}
}

// handleOffer answers an OfferKey: if peers of this node asked for the key in vain, the block
// is fetched from the peer offering it with an HTL-1 request, cached, and offered on to them.
func (r *Router) handleOffer(from crypto.NodeID, m *wire.OfferKey) {
	k := failKey{m.KeyType, m.Key}
	r.failed.Lock()
	e := r.failed.table.entries[k]
	wanted := e != nil && len(e.askers) > 0
	r.failed.Unlock()
	r.peers.Lock()
	p := r.peers.byID[from]
	r.peers.Unlock()
	if !wanted || p == nil || !r.admitOwn() {
		return
	}
	id := r.newID()
	started := r.spawn(func() {
		defer r.release(crypto.NodeID{}) // the node's own work, not a peer's
		ctx, cancel := context.WithTimeout(r.ctx, r.cfg.AcceptTimeout+10*time.Second)
		defer cancel()
		x := r.exchange(ctx, from, &wire.Request{KeyType: m.KeyType, ID: id, HTL: 1, Key: m.Key, Timeout: 10 * time.Second}, func(wire.Message) {})
		x.done()
		if d, ok := x.reply.(*wire.DataReply); ok && r.checkBlock(p, m.KeyType, m.Key, d.KeyType, d.Block) == nil {
			if err := r.cfg.Store.Cache(m.KeyType, m.Key, d.Block); err == nil {
				r.blockArrived(m.KeyType, m.Key)
			}
		}
	})
	if !started {
		r.release(crypto.NodeID{})
	}
}
