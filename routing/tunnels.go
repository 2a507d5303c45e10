package routing

import (
	"context"
	"errors"
	"fmt"

	"lethe/crypto"
	"lethe/routing/tunnel"
	"lethe/wire"
)

// Tunnels (spec §18.11). With an identity (Config.Identity) a node's own requests and
// inserts travel through tunnels that package tunnel builds; the node relays and ends other
// nodes' tunnels. What comes out of a tunnel the node ends is walked as a node walks a
// message whose stem ends where it stands: below the stem, under a fresh ID (tunnelEnd).

// newTunnels gives the router its part in tunnels, if it has an identity.
func (r *Router) newTunnels(seed [32]byte) {
	if r.cfg.Identity == nil {
		return
	}
	seed[0] ^= 0x5a // the tunnels' own random choices, apart from the router's
	r.tunnels = tunnel.New(tunnel.Config{
		Identity:   r.cfg.Identity,
		End:        tunnelEnd{r},
		MaxTunnels: r.cfg.MaxTunnels,
		// A step of a build waits as long as a peer may take to accept a message, twice
		// over (the answer comes back the way the Create went); an answer, as long as the
		// end's search may take and the stem's slack.
		StepTimeout:   2 * r.cfg.AcceptTimeout,
		AnswerTimeout: r.cfg.RequestTimeout + 2*stemSlack,
		// A request not answered in a quarter of the request timeout goes also through
		// another tunnel of its session (spec §18.11.8): 15 s by default, where a search
		// usually answers within a few.
		HedgeAfter: r.cfg.RequestTimeout / 4,
		Seed:       &seed,
		Now:        r.cfg.Now,
		Logger:     r.log.With("part", "tunnels"),
		ShowPeers:  r.cfg.ShowPeers,
		GuardsChanged: func(guards []crypto.NodeID) {
			// A node's guards are kept as its ring neighbours are: dropping one for a
			// newcomer would make it choose another, and each new guard is one more
			// chance for colluders to stand next to it (spec §18.8, §18.11.3).
			set := make(map[crypto.NodeID]bool, len(guards))
			for _, g := range guards {
				set[g] = true
			}
			r.peers.Lock()
			r.peers.guards = set
			r.peers.Unlock()
		},
		Send: func(to crypto.NodeID, m wire.Message) error {
			r.sendCell(to, m)
			return nil
		},
		Trace: func(e tunnel.Event) {
			if e.Kind == tunnel.EventRequest {
				r.trace(Event{Kind: EventTunnelRequest, Key: e.Key, Hops: e.Hops})
			}
		},
	})
}

// tunnelRound is one round of the node's own request or insert (ownRounds) through the
// session's tunnels: the session is the stem tag, which the node gives each download.
func (r *Router) tunnelGet(kt crypto.KeyType, rk crypto.RoutingKey) func(ctx context.Context, id, tag uint64) outcome {
	return func(ctx context.Context, id, tag uint64) outcome {
		block, err := r.tunnels.Get(ctx, tag, kt, rk)
		if err == nil {
			// The end verified it; so does the node, which trusts no one with its user's
			// data. A block that does not verify is a tunnel's lie: not found.
			if verr := r.cfg.VerifyBlock(kt, rk, block); verr != nil {
				err = ErrDataNotFound
			}
		}
		return outcome{block: block, err: ownError(err)}
	}
}

func (r *Router) tunnelPut(kt crypto.KeyType, block []byte) func(ctx context.Context, id, tag uint64) outcome {
	return func(ctx context.Context, id, tag uint64) outcome {
		return outcome{err: ownError(r.tunnels.Put(ctx, tag, kt, block))}
	}
}

// ownError is the outcome of the node's own request through a tunnel as its user sees it: a
// tunnel that could not be built is a route not found.
func ownError(err error) error {
	if errors.Is(err, tunnel.ErrNoTunnel) {
		return fmt.Errorf("%w: %w", ErrRouteNotFound, err)
	}
	return err
}

// tunnelEnd is what the node does with a request or insert that comes out of a tunnel it ends
// (spec §18.11.6): a walk with no predecessor that starts where a stem ends, under a fresh ID
// at HTL 17, as if this node had ended the stem of a message that reached it. It is admitted
// as any walk: past MaxActive the tunnel is told the node is overloaded.
type tunnelEnd struct{ r *Router }

func (e tunnelEnd) Fetch(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey) ([]byte, error) {
	r := e.r
	id, ctx, done, err := r.endWalk(ctx, rk)
	if err != nil {
		return nil, err
	}
	defer done()
	w := r.newWalk(&requestKind{}, nil, kt, rk, rk.Location(), id, wire.MaxHTL-1, 0, false)
	w.atEnd = true
	o := w.run(ctx)
	defer o.finish()
	if o.err != nil {
		return nil, o.err
	}
	if r.cfg.Opennet && r.cfg.Connect != nil {
		// The path-folding offer is the end's to take, as if it had asked: the originator
		// never sees it, so the node that had the data never learns its address.
		if ref := o.awaitOffer(ctx); ref != nil {
			r.considerOffer(ref)
		}
	}
	return o.block, nil
}

func (e tunnelEnd) Insert(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	r := e.r
	if err := r.cfg.VerifyBlock(kt, rk, block); err != nil {
		return ErrDataNotFound // what the originator sent is not what it says: nothing to insert
	}
	id, ctx, done, err := r.endWalk(ctx, rk)
	if err != nil {
		return err
	}
	defer done()
	w := r.newWalk(&insertKind{block: block}, nil, kt, rk, rk.Location(), id, wire.MaxHTL-1, 0, false)
	w.atEnd = true
	return w.run(ctx).err
}

// endWalk admits a message that came out of a tunnel: the node's limit on work in progress
// applies, and the walk gets a fresh ID and the time a stem's end gives its search.
func (r *Router) endWalk(ctx context.Context, rk crypto.RoutingKey) (uint64, context.Context, func(), error) {
	if r.closed() {
		return 0, ctx, nil, ErrClosed
	}
	r.load.Lock()
	if r.load.active >= r.cfg.MaxActive {
		r.load.Unlock()
		r.counters.RejectedOverload.Add(1)
		return 0, ctx, nil, ErrOverloaded
	}
	r.load.active++
	r.load.Unlock()
	id := r.newID()
	r.counters.TunnelEnds.Add(1)
	r.trace(Event{Kind: EventTunnelExit, ID: id, Key: rk})
	ctx, cancel := context.WithTimeout(ctx, r.budget(wire.MaxHTL-1, r.cfg.RequestTimeout))
	return id, ctx, func() {
		cancel()
		r.completed.Add(1)
		r.load.Lock()
		r.load.active--
		r.load.Unlock()
	}, nil
}

// sendCell sends a tunnel message from the transport's event goroutine: at once if the link
// has room, and otherwise from a goroutine that waits for room as long as a request may run.
// A cell is a request or the data answering it, for every hop of the tunnel at once; one
// dropped because a link was busy for a moment (a flood, a slow uplink) would leave the
// originator waiting out its whole answer timeout, as a dropped data reply would (sendReply).
func (r *Router) sendCell(to crypto.NodeID, m wire.Message) {
	r.sendNowWithin(to, m, r.cfg.RequestTimeout)
}
