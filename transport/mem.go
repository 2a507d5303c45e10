package transport

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// MemNetwork connects MemNodes inside one process: links without sockets or TLS, for unit
// tests and for simulating networks of thousands of nodes. Messages are encoded and decoded
// as on a real link, so a receiver never shares memory with the sender and every message
// obeys the limits of spec §10.
//
// It is built to scale: a link costs two small structs and no goroutine. Each node has one
// inbox queue for its events; a goroutine drains it only while it is not empty, so an idle
// network of 10,000 nodes runs no goroutines at all. Nothing in it uses timers, so it works
// inside testing/synctest bubbles.
type MemNetwork struct {
	mu    sync.Mutex
	nodes map[crypto.NodeID]*MemNode // guarded by mu
}

// NewMemNetwork makes an empty in-memory network.
func NewMemNetwork() *MemNetwork {
	return &MemNetwork{nodes: map[crypto.NodeID]*MemNode{}}
}

// MemConfig configures one node of a MemNetwork.
type MemConfig struct {
	// Ref is the node's noderef; other nodes Connect to it by its ID. Required.
	Ref *wire.NodeRef
	// Handler receives the node's events; see Handler. Nil: they are dropped.
	Handler Handler
	// AcceptPeer decides whether a node that connects may stay, as Config.AcceptPeer.
	AcceptPeer func(p Peer) error
	// MaxQueuedBytes bounds the bytes sent on one link and not yet handled by the
	// receiver (default 1 MiB), as Limits.MaxQueuedBytes.
	MaxQueuedBytes int
}

// MemNode is one node's side of a MemNetwork. It implements Transport. Links stay up until
// Disconnect or Close at either end; there is nothing to redial.
type MemNode struct {
	network  *MemNetwork
	ref      *wire.NodeRef
	id       crypto.NodeID
	handler  Handler
	accept   func(Peer) error
	maxQueue int
	drainers sync.WaitGroup // the inbox goroutine, while it runs

	mu       sync.Mutex
	links    map[crypto.NodeID]*memLink // outgoing side of each link; guarded by mu
	inbox    []memEvent                 // guarded by mu
	draining bool                       // a goroutine is draining inbox; guarded by mu
	closed   bool                       // guarded by mu
}

var _ Transport = (*MemNode)(nil)

// memLink is one direction of a link, from one node to another.
type memLink struct {
	from, to *MemNode
	reverse  *memLink
	outbound bool // from dialled
	since    time.Time
	closed   atomic.Bool
	queued   atomic.Int64 // bytes in to's inbox from this link

	mu    sync.Mutex
	space chan struct{} // closed when the receiver takes a message; guarded by mu

	bytes, msgs atomic.Uint64 // sent on this direction
}

type memEventKind uint8

const (
	memUp memEventKind = iota
	memMessage
	memDown
)

type memEvent struct {
	kind memEventKind
	link *memLink // memMessage: the direction it came on
	from crypto.NodeID
	peer Peer         // memUp
	msg  wire.Message // memMessage
	size int          // memMessage: encoded bytes
	err  error        // memDown
}

// Join adds a node to the network.
func (n *MemNetwork) Join(cfg MemConfig) (*MemNode, error) {
	if cfg.Ref == nil {
		return nil, errors.New("transport: MemConfig.Ref is required")
	}
	m := &MemNode{
		network:  n,
		ref:      cfg.Ref,
		id:       cfg.Ref.ID(),
		handler:  cfg.Handler,
		accept:   cfg.AcceptPeer,
		maxQueue: cfg.MaxQueuedBytes,
		links:    map[crypto.NodeID]*memLink{},
	}
	if m.handler == nil {
		m.handler = discard{}
	}
	if m.maxQueue <= 0 {
		m.maxQueue = defaultMaxQueuedBytes
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.nodes[m.id] != nil {
		return nil, fmt.Errorf("transport: node %v already joined", m.id.Short())
	}
	n.nodes[m.id] = m
	return m, nil
}

// Ref is the node's noderef.
func (m *MemNode) Ref() *wire.NodeRef { return m.ref }

// Connect links this node to the node of ref, which must have joined the same network.
func (m *MemNode) Connect(ctx context.Context, ref *wire.NodeRef) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if ref.ID() == m.id {
		return errors.New("transport: connect to self")
	}
	m.network.mu.Lock()
	peer := m.network.nodes[ref.ID()]
	m.network.mu.Unlock()
	if peer == nil {
		return fmt.Errorf("connect to %v: %w: no such node in the network", ref.ID().Short(), ErrNotConnected)
	}
	if peer.accept != nil {
		if err := peer.accept(Peer{Ref: m.ref, Version: wire.MaxVersion}); err != nil {
			return fmt.Errorf("connect to %v: %w: %w", ref.ID().Short(), ErrRefused, err)
		}
	}
	a, b := lockPair(m, peer)
	if m.closed || peer.closed {
		unlockPair(a, b)
		return ErrClosed
	}
	if m.links[peer.id] != nil {
		unlockPair(a, b)
		return nil
	}
	now := time.Now()
	out := &memLink{from: m, to: peer, outbound: true, since: now}
	in := &memLink{from: peer, to: m, since: now, reverse: out}
	out.reverse = in
	m.links[peer.id] = out
	peer.links[m.id] = in
	m.pushLocked(memEvent{kind: memUp, from: peer.id, peer: Peer{Ref: peer.ref, Outbound: true, Version: wire.MaxVersion}})
	peer.pushLocked(memEvent{kind: memUp, from: m.id, peer: Peer{Ref: m.ref, Version: wire.MaxVersion}})
	unlockPair(a, b)
	return nil
}

// lockPair locks two nodes in ID order, so that two nodes linking to each other at once
// cannot deadlock.
func lockPair(x, y *MemNode) (*MemNode, *MemNode) {
	if string(y.id[:]) < string(x.id[:]) {
		x, y = y, x
	}
	x.mu.Lock()
	y.mu.Lock()
	return x, y
}

func unlockPair(x, y *MemNode) {
	y.mu.Unlock()
	x.mu.Unlock()
}

// Send queues m for the peer's inbox; see Transport.
func (m *MemNode) Send(ctx context.Context, to crypto.NodeID, msg wire.Message) error {
	b, err := wire.Encode(msg)
	if err != nil {
		return err
	}
	// The receiver gets its own decoded copy, as over a real link. b is this call's own
	// buffer, so the decoded blocks may keep it rather than copy it again.
	copyMsg, err := wire.DecodeShared(b)
	if err != nil {
		panic("transport: a message that encodes does not decode: " + err.Error())
	}
	m.mu.Lock()
	l := m.links[to]
	m.mu.Unlock()
	if l == nil {
		return ErrNotConnected
	}
	if err := l.reserve(ctx, len(b)); err != nil {
		return err
	}
	l.to.mu.Lock()
	if l.closed.Load() {
		l.to.mu.Unlock()
		l.release(len(b))
		return ErrNotConnected
	}
	l.to.pushLocked(memEvent{kind: memMessage, link: l, from: m.id, msg: copyMsg, size: len(b)})
	l.to.mu.Unlock()
	l.msgs.Add(1)
	l.bytes.Add(uint64(framedSize(len(b))))
	return nil
}

// reserve counts n bytes against the link's queue limit, waiting for room while ctx allows.
func (l *memLink) reserve(ctx context.Context, n int) error {
	limit := int64(l.from.maxQueue)
	for {
		if l.closed.Load() {
			return ErrNotConnected
		}
		q := l.queued.Load()
		if q == 0 || q+int64(n) <= limit {
			if l.queued.CompareAndSwap(q, q+int64(n)) {
				return nil
			}
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: %w", ErrQueueFull, err)
		}
		l.mu.Lock()
		if l.space == nil {
			l.space = make(chan struct{})
		}
		space := l.space
		l.mu.Unlock()
		// Re-check after registering, in case the receiver drained in between.
		if l.queued.Load() != q || l.closed.Load() {
			continue
		}
		select {
		case <-space:
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrQueueFull, ctx.Err())
		}
	}
}

func (l *memLink) release(n int) {
	l.queued.Add(-int64(n))
	l.wakeSenders()
}

func (l *memLink) wakeSenders() {
	l.mu.Lock()
	if l.space != nil {
		close(l.space)
		l.space = nil
	}
	l.mu.Unlock()
}

// pushLocked appends an event to the inbox and starts the drainer if none runs.
func (m *MemNode) pushLocked(ev memEvent) {
	if m.closed {
		return
	}
	m.inbox = append(m.inbox, ev)
	if !m.draining {
		m.draining = true
		m.drainers.Add(1)
		go m.drain()
	}
}

// drain delivers the inbox in order, then exits.
func (m *MemNode) drain() {
	defer m.drainers.Done()
	for {
		m.mu.Lock()
		if len(m.inbox) == 0 {
			m.inbox = nil // give back the memory of a burst
			m.draining = false
			m.mu.Unlock()
			return
		}
		ev := m.inbox[0]
		m.inbox[0] = memEvent{}
		m.inbox = m.inbox[1:]
		m.mu.Unlock()
		switch ev.kind {
		case memUp:
			m.handler.PeerUp(ev.peer)
		case memMessage:
			if !ev.link.closed.Load() {
				m.handler.Receive(ev.from, ev.msg)
			}
			ev.link.release(ev.size)
		case memDown:
			m.handler.PeerDown(ev.from, ev.err)
		}
	}
}

// Disconnect closes the link to id; both ends get PeerDown.
func (m *MemNode) Disconnect(id crypto.NodeID) {
	m.mu.Lock()
	l := m.links[id]
	m.mu.Unlock()
	if l != nil {
		m.cut(l, ErrDisconnected)
	}
}

// cut closes both directions of the link l (from m) and queues PeerDown at both ends.
func (m *MemNode) cut(l *memLink, why error) {
	peer := l.to
	a, b := lockPair(m, peer)
	if m.links[peer.id] == l {
		delete(m.links, peer.id)
		delete(peer.links, m.id)
		l.closed.Store(true)
		l.reverse.closed.Store(true)
		m.pushLocked(memEvent{kind: memDown, from: peer.id, err: why})
		peer.pushLocked(memEvent{kind: memDown, from: m.id, err: ErrPeerClosed})
	}
	unlockPair(a, b)
	l.wakeSenders()
	l.reverse.wakeSenders()
}

// Links lists the node's links; bytes are what the messages would take in frames.
func (m *MemNode) Links() []LinkStats {
	m.mu.Lock()
	out := make([]LinkStats, 0, len(m.links))
	for id, l := range m.links {
		out = append(out, LinkStats{
			ID:          id,
			Outbound:    l.outbound,
			Since:       l.since,
			BytesOut:    l.bytes.Load(),
			MessagesOut: l.msgs.Load(),
			BytesIn:     l.reverse.bytes.Load(),
			MessagesIn:  l.reverse.msgs.Load(),
			Queued:      int(l.queued.Load()),
		})
	}
	m.mu.Unlock()
	return out
}

// Close removes the node from the network, closes its links (its peers get PeerDown) and
// waits until its own last event has been handled. It must not be called from its Handler.
func (m *MemNode) Close() error {
	m.network.mu.Lock()
	if m.network.nodes[m.id] == m {
		delete(m.network.nodes, m.id)
	}
	m.network.mu.Unlock()
	m.mu.Lock()
	links := make([]*memLink, 0, len(m.links))
	for _, l := range m.links {
		links = append(links, l)
	}
	m.mu.Unlock()
	for _, l := range links {
		m.cut(l, ErrDisconnected)
	}
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.drainers.Wait()
	return nil
}

// framedSize is how many frame bytes a message of n encoded bytes takes on a TCP link.
func framedSize(n int) int {
	if n <= maxLargePayload {
		return frameSize(n)
	}
	size := largeFrameSize
	for left := n - (maxLargePayload - partHeader); left > 0; left -= maxLargePayload {
		size += frameSize(min(left, maxLargePayload))
	}
	return size
}
