package transport

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// Transport is a node's links to its peers, as the routing layer uses them. Two
// implementations share it: TCP, real TLS links over sockets, and MemNode, links inside one
// process for tests and simulation. Both deliver events to a Handler given at construction.
type Transport interface {
	// Connect opens a link to the node that ref describes, authenticated as ref.ID(), and
	// returns once the link is established (Handler.PeerUp may run just before or after it
	// returns). If a link is already up it returns nil at once. After a successful Connect
	// the transport keeps the link: when it drops, it redials with a short, capped backoff
	// until Disconnect.
	Connect(ctx context.Context, ref *wire.NodeRef) error

	// Send queues m for the peer and returns without waiting for it to be written. If the
	// link's queue is full (the peer is not reading fast enough) it waits for room until ctx
	// ends and then returns an error that is ErrQueueFull; with a ctx that is already done it
	// never waits. ErrNotConnected if there is no link to the peer, wire.ErrMalformed if m
	// does not encode. Messages of one size class arrive in the order sent; a message
	// without a block may overtake a block-carrying one sent before it (spec §11.3).
	Send(ctx context.Context, to crypto.NodeID, m wire.Message) error

	// Disconnect closes the link to id, if any, and stops redialling it. PeerDown follows
	// with ErrDisconnected.
	Disconnect(id crypto.NodeID)

	// Links lists the open links and their counters, for the status page.
	Links() []LinkStats
}

// Handler receives a transport's events. For each peer the calls are ordered: PeerUp, then
// Receive for each message in the order the peer sent it (within a size class), then
// PeerDown; a new link to the same peer starts with PeerUp only after the old one's PeerDown
// has returned.
//
// TCP calls a link's events on that link's reader goroutine: calls for different peers run
// concurrently, and while a call runs, that link reads nothing more (TCP then slows the
// peer). MemNode calls all events of one node on one goroutine at a time. Either way a
// Handler must not block for long: hand slow work to another goroutine. It may call Send,
// with a ctx that bounds the wait (a handler that waits on a full queue stalls its own
// link), and Disconnect; it must not call Close.
type Handler interface {
	PeerUp(p Peer)
	Receive(from crypto.NodeID, m wire.Message)
	PeerDown(id crypto.NodeID, err error)
}

// A Borrower is a Handler that takes the buffers of block-carrying messages on loan, so that
// the transport can receive the next block into the buffer of one its handler is done with
// instead of allocating 32 KiB for each. ReceiveLent is Receive for a message reassembled from
// several frames, whose blocks alias a buffer of the transport's: the handler calls release
// at most once, when nothing refers to the message's bytes any more (not even a copy of the
// slice kept somewhere), and from then on the transport writes another message into them.
// A handler that never calls release leaves the buffer to the garbage collector, as Receive
// does with every message; that is always safe.
type Borrower interface {
	Handler
	ReceiveLent(from crypto.NodeID, m wire.Message, release func())
}

// Peer describes the other end of a link that has just come up.
type Peer struct {
	Ref      *wire.NodeRef // the peer's signed noderef; Ref.ID() is the authenticated identity
	Outbound bool          // this node dialled
	Version  uint8         // the wire version the link speaks
}

// LinkStats are a link's counters. Bytes are frame bytes, padding included, as they go into
// TLS; messages exclude keepalives.
type LinkStats struct {
	ID          crypto.NodeID
	Outbound    bool
	Kind        string         // "quic" or "tcp"; "" for in-memory links
	Remote      netip.AddrPort // the peer's address as this node sees it; zero for in-memory links
	Since       time.Time
	BytesIn     uint64
	BytesOut    uint64
	MessagesIn  uint64
	MessagesOut uint64
	Queued      int // encoded bytes waiting to be sent
}

// Errors a caller or Handler.PeerDown branches on.
var (
	// ErrNotConnected: there is no link to the peer.
	ErrNotConnected = errors.New("no link to this peer")
	// ErrQueueFull: the link's send queue is at its limit; the peer is not keeping up.
	ErrQueueFull = errors.New("link send queue full")
	// ErrClosed: the transport is closed.
	ErrClosed = errors.New("transport closed")
	// ErrIdentityMismatch: the peer did not prove the identity it was expected to have, or
	// its noderef names another identity than its certificate.
	ErrIdentityMismatch = errors.New("peer did not prove the expected identity")
	// ErrKeyExchange: the peer would not use TLS 1.3 with the hybrid post-quantum key
	// exchange X25519MLKEM768.
	ErrKeyExchange = errors.New("peer refused TLS 1.3 with X25519MLKEM768")
	// ErrVersion: the two nodes have no wire version in common.
	ErrVersion = errors.New("no wire version in common with the peer")
	// ErrRefused: this node's policy (Config.AcceptPeer) refused the peer.
	ErrRefused = errors.New("peer refused")
	// ErrFlood: the peer sent messages faster than its limit allows.
	ErrFlood = errors.New("peer exceeded its message rate")
	// ErrIdle: nothing arrived from the peer, not even a keepalive, for Config.IdleTimeout.
	ErrIdle = errors.New("peer silent for too long")
	// ErrReplaced: a newer link to the same peer took this one's place.
	ErrReplaced = errors.New("link replaced by a newer one to the same peer")
	// ErrDisconnected: this node closed the link (Disconnect or Close).
	ErrDisconnected = errors.New("link closed by this node")
	// ErrPeerClosed: the other end closed the link.
	ErrPeerClosed = errors.New("link closed by the peer")
)
