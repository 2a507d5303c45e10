// Package tuning holds the settings of a routing.Router that only the simulator (package
// routing/sim) and the router's own tests change: a node runs with the defaults, which
// docs/spec.md §18 gives. They reach a router through routing.Config.Tuning, a field whose
// type no package outside lethe/routing can name, so that no node can be set up to time out,
// check blocks or spread its stem differently from the others.
package tuning

import (
	"time"

	"lethe/crypto"
)

// Options are the settings; the zero value of each means its default.
type Options struct {
	// RequestTimeout is how long a request may search, default 60 s (spec §18.5): the same
	// on every node, since a message on the stem carries it whoever sends it. The
	// simulator, whose nodes are slow rather than lossy, lengthens it.
	RequestTimeout time.Duration
	// AcceptTimeout is how long a peer has to accept a message before the next is tried,
	// default 5 s.
	AcceptTimeout time.Duration
	// MaxActive limits the requests, inserts and announcements in progress at the node at
	// once, default 4000 (spec §18.5).
	MaxActive int
	// MaxAwaiting is how many messages may wait for one peer's Accepted at once, default 8;
	// past it the peer is not chosen until it answers (spec §18.5). The simulator, whose
	// nodes are slow rather than silent, raises it.
	MaxAwaiting int
	// LocationUpdateDelay is how long location changes are gathered before peers are told,
	// default 1 s; negative means at once.
	LocationUpdateDelay time.Duration
	// StemKeepProbability overrides the chance that a link keeps HTL 18 (spec §18.2); zero
	// means routing.StemKeepProbability(MaxPeers). The router's tests of the stem set it.
	StemKeepProbability float64
	// VerifyBlock checks a block against its routing key, default crypto.VerifyCHK or
	// crypto.VerifySSK. The simulator sets a cheaper check of its own blocks.
	VerifyBlock func(kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error
	// MaxTunnels is how many tunnels a session may use, default tunnel.DefaultMaxTunnels;
	// the simulator sets 1 to compare.
	MaxTunnels int
	// ShowPeers changes the peer list the node shows to those building tunnels through it:
	// the simulator's active colluders show only colluders (tunnel.Config.ShowPeers).
	ShowPeers func([]*crypto.TunnelAttestation) []*crypto.TunnelAttestation
}
