package routing

import (
	"time"

	"lethe/crypto"
)

// EventKind says what a traced Event records.
type EventKind uint8

const (
	EventPeerUp    EventKind = iota + 1 // a link came up (Peer)
	EventPeerDown                       // a link went down (Peer)
	EventRequest                        // a request arrived from Peer at HTL (ID, Key)
	EventInsert                         // an insert arrived from Peer at HTL (ID, Key)
	EventFound                          // this node answered request ID from its store
	EventStored                         // this node stored an insert long-term (sink)
	EventCached                         // this node cached a block passing through
	EventBadBlock                       // Peer sent a block that failed verification
	EventSwap                           // this node swapped its location
	EventOriginate                      // this node's user started request or insert ID
	EventStemExit                       // the stem of ID ended here; the search goes on as Next
	EventRefused                        // a request from Peer at HTL was refused, as a loop or overload (ID, Key)
)

// Event is one thing that happened in a router, for the simulator's measurements and for
// tests. Fields that do not apply to the kind are zero.
type Event struct {
	Kind EventKind
	Peer crypto.NodeID
	ID   uint64
	HTL  uint8
	Key  crypto.RoutingKey
	Next uint64 // EventStemExit: the ID the search continues under

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
	Active                            int // requests, inserts and announcements in progress here
}

// Stats returns a snapshot of the counters.
func (r *Router) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.stats
	st.Active = r.active
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
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]PeerInfo, 0, len(r.peers))
	for _, p := range r.peers {
		out = append(out, PeerInfo{ID: p.id, Location: p.loc, Darknet: p.darknet, Served: p.served, BadBlocks: p.badBlocks})
	}
	return out
}
