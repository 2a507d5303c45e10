package proxy

import (
	"time"

	"lethe/crypto"
)

// Status is a snapshot of the node for the status page. The node fills it; every field may
// be left empty.
type Status struct {
	NodeID   crypto.NodeID
	Location crypto.Location
	Opennet  bool   // whether the node takes strangers as peers
	Version  string // of the node's software
	Started  time.Time

	Peers []PeerStatus
	// Store is the long-term store, Cache the cache of recent blocks (spec §8).
	Store, Cache AreaStatus
	// Bandwidth is the traffic of the recent intervals, oldest first.
	Bandwidth []BandwidthSample
	// Errors are recent errors, explained in plain words, oldest first.
	Errors []string
	// UploadLimit and DownloadLimit (bytes per second) and MonthlyCap (bytes) are the
	// links' limits, 0 for none; MonthUsed is what they moved this month, CapReached says the
	// cap is reached and the links trickle.
	UploadLimit, DownloadLimit, MonthlyCap, MonthUsed int64
	CapReached                                        bool
	// CappedRate is the rate of each direction once the monthly cap is reached (bytes per
	// second).
	CappedRate int64
	// Reach is how other nodes reach this one: a word ("public", "mapped", "punchable",
	// "unreachable", "unknown") and a sentence saying what the user can do about it.
	Reach, ReachAdvice string
}

// PeerStatus is one connected peer.
type PeerStatus struct {
	ID       crypto.NodeID
	Location crypto.Location
	Darknet  bool // a friend, rather than a stranger met through opennet
	// Address is where the peer is reached. Leave it empty unless the user asked to see
	// addresses: the status page is one screenshot away from being shared.
	Address           string
	BytesIn, BytesOut int64
	Since             time.Time // connected since
}

// AreaStatus is how full one area of the datastore is.
type AreaStatus struct {
	Blocks int64
	Bytes  int64
	Bound  int64 // bytes the area may hold; 0 if unbounded or unknown
}

// BandwidthSample is the traffic of one interval: Time is when the interval ended, and the
// interval began at the previous sample's Time.
type BandwidthSample struct {
	Time              time.Time
	BytesIn, BytesOut int64
}
