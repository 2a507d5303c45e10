package routing

import (
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// Locations (spec §18.1, §18.3): a node tells its peers its location and its peers'
// locations, gathered for a moment, and keeps what its peers tell it for friend-of-a-friend
// routing.

// locationLoop tells peers this node's location and its peers' locations whenever they
// change (FOAF routing, spec §18.3), gathering changes for LocationUpdateDelay.
func (r *Router) locationLoop() {
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.kick:
		}
		if d := r.cfg.LocationUpdateDelay; d > 0 {
			select {
			case <-r.ctx.Done():
				return
			case <-time.After(d):
			}
		}
		r.peers.Lock()
		if !r.peers.locDirty {
			r.peers.Unlock()
			continue
		}
		r.peers.locDirty = false
		update := r.locationUpdateLocked()
		ids := make([]crypto.NodeID, 0, len(r.peers.byID))
		for id, p := range r.peers.byID {
			if !p.transient {
				ids = append(ids, id)
			}
		}
		r.peers.Unlock()
		for _, id := range ids {
			r.send(id, update)
		}
	}
}

func (r *Router) kickLocationUpdate() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// locationUpdateLocked builds the LocationUpdate describing this node now. Callers hold
// peers.
func (r *Router) locationUpdateLocked() *wire.LocationUpdate {
	u := &wire.LocationUpdate{Location: r.peers.loc}
	for _, p := range r.peers.byID {
		if p.routable() && len(u.PeerLocations) < wire.MaxPeerLocations {
			u.PeerLocations = append(u.PeerLocations, p.loc)
		}
	}
	return u
}

// peerLocation records a peer's location and its neighbours' locations. This node's own
// location is left out of the neighbours: routing to a peer to reach this node would loop.
func (r *Router) peerLocation(from crypto.NodeID, m *wire.LocationUpdate) {
	r.peers.Lock()
	defer r.peers.Unlock()
	p := r.peers.byID[from]
	if p == nil || !m.Location.Valid() {
		return
	}
	changed := p.loc != m.Location
	p.loc = m.Location
	p.foaf = p.foaf[:0]
	for _, l := range m.PeerLocations {
		if l.Valid() && l != r.peers.loc && len(p.foaf) < MaxFOAF {
			p.foaf = append(p.foaf, l)
		}
	}
	if changed {
		r.peers.locDirty = true
		r.kickLocationUpdate()
	}
}
