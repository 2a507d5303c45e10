package routing

import (
	"sync/atomic"
	"time"

	"lethe/crypto"
)

// EventKind says what a traced Event records.
type EventKind uint8

const (
	EventPeerUp        EventKind = iota + 1 // a link came up (Peer)
	EventPeerDown                           // a link went down (Peer)
	EventRequest                            // a request arrived from Peer at HTL (ID, Key)
	EventInsert                             // an insert arrived from Peer at HTL (ID, Key)
	EventFound                              // this node answered request ID from its store
	EventStored                             // this node stored an insert long-term (sink)
	EventCached                             // this node cached a block passing through
	EventBadBlock                           // Peer sent a block that failed verification
	EventSwap                               // this node swapped its location
	EventOriginate                          // this node's user started request or insert ID
	EventStemExit                           // the stem of ID ended here; the search goes on as Next
	EventRefused                            // a request from Peer at HTL was refused, as a loop or overload (ID, Key)
	EventTunnelRequest                      // this node's own request or insert for Key went into a tunnel (Hops)
	EventTunnelExit                         // a request or insert for Key came out of a tunnel this node ends; its walk is ID
)

// Event is one thing that happened in a router, for the simulator's measurements and for
// tests. Fields that do not apply to the kind are zero.
type Event struct {
	Kind EventKind
	Peer crypto.NodeID
	ID   uint64
	HTL  uint8
	Key  crypto.RoutingKey
	Next uint64          // EventStemExit: the ID the search continues under
	Hops []crypto.NodeID // EventTunnelRequest: the tunnel's hops, guard first

	// Timeout is the time the sender gave this node (EventRequest, EventInsert,
	// EventRefused): what the message carried.
	Timeout time.Duration
}

// Stats are a router's counters, for the status page.
type Stats struct {
	Requests, Inserts                 uint64 // received from peers
	LocalRequests, LocalInserts       uint64 // from this node's user
	Found, NotFound                   uint64 // outcomes of requests this node handled
	RejectedLoop, RejectedOverload    uint64 // sent by this node
	Timeouts                          uint64 // peers that did not accept a request in time
	BadBlocks                         uint64 // blocks from peers that failed verification
	PathFoldOffers, PathFoldConnected uint64
	Swaps                             uint64
	// TunnelEnds counts the requests and inserts that came out of tunnels this node ends;
	// TunnelCells, the cells it passed on along other nodes' tunnels, both ways (spec §18.11).
	TunnelEnds, TunnelCells uint64
	Active                  int // requests, inserts and announcements in progress here
}

// counters are the Stats a router counts, each atomic.
type counters struct {
	Requests, Inserts                 atomic.Uint64
	LocalRequests, LocalInserts       atomic.Uint64
	Found, NotFound                   atomic.Uint64
	RejectedLoop, RejectedOverload    atomic.Uint64
	Timeouts                          atomic.Uint64
	BadBlocks                         atomic.Uint64
	PathFoldOffers, PathFoldConnected atomic.Uint64
	Swaps                             atomic.Uint64
	TunnelEnds                        atomic.Uint64
}

// Stats returns a snapshot of the counters.
func (r *Router) Stats() Stats {
	c := &r.counters
	st := Stats{
		Requests: c.Requests.Load(), Inserts: c.Inserts.Load(),
		LocalRequests: c.LocalRequests.Load(), LocalInserts: c.LocalInserts.Load(),
		Found: c.Found.Load(), NotFound: c.NotFound.Load(),
		RejectedLoop: c.RejectedLoop.Load(), RejectedOverload: c.RejectedOverload.Load(),
		Timeouts:       c.Timeouts.Load(),
		BadBlocks:      c.BadBlocks.Load(),
		PathFoldOffers: c.PathFoldOffers.Load(), PathFoldConnected: c.PathFoldConnected.Load(),
		Swaps:      c.Swaps.Load(),
		TunnelEnds: c.TunnelEnds.Load(),
		Active:     r.active(),
	}
	if r.tunnels != nil {
		st.TunnelCells = r.tunnels.Relayed()
	}
	return st
}

// PeerInfo describes a connected peer for the status page.
type PeerInfo struct {
	ID       crypto.NodeID
	Location crypto.Location // -1 while unknown
	Darknet  bool
	Served   int
	// BadBlocks counts the blocks it sent that did not verify; at maxBadBlocks it is dropped.
	BadBlocks int
}

// Peers lists the connected peers.
func (r *Router) Peers() []PeerInfo {
	r.peers.Lock()
	defer r.peers.Unlock()
	out := make([]PeerInfo, 0, len(r.peers.byID))
	for _, p := range r.peers.byID {
		out = append(out, PeerInfo{ID: p.id, Location: p.loc, Darknet: p.darknet, Served: p.served, BadBlocks: p.badBlocks})
	}
	return out
}
