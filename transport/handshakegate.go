package transport

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// HandshakeGate decides which inbound connections may run a link handshake (spec §11.4).
//
// Every listener that accepts links must pass each new connection through the node's gate
// before it spends anything on it (TLS, a goroutine, a buffer), and must give the gate's
// eviction callback the power to end that handshake: the TCP listener of this package does,
// and any other transport (a UDP or QUIC listener) must do the same, keyed by the address the
// connection comes from. A listener that bypasses the gate reopens the lock-out it closes.
//
// The rule: at most total handshakes are pending at once, and at most perSource of them come
// from one source — one IPv4 address, or one IPv6 /64 (the block one subscriber usually
// holds). A connection from a source that already has perSource pending is refused. When the
// table is full, a newcomer from a source with fewer pending than the busiest source (the one
// with the most pending, the longest-waiting of those on a tie) evicts that source's oldest
// pending handshake; a newcomer from the busiest source itself is refused, so a source never
// evicts its own. So one source can never fill the table, and a newcomer from a quiet source
// is never refused for a full one: to hold the table, an attacker needs total/perSource
// sources, and then each newcomer from elsewhere still evicts one of theirs.
//
// A loopback address (a program on this machine: the nodes of a test network all dial from
// 127.0.0.1, a dozen of them at once) has a cap of its own, loopback, by default total-1: it
// still cannot fill the table, and a newcomer from elsewhere still evicts its oldest when the
// table is full.
//
// The gate knows nothing of sockets: Admit takes an address and a callback, Done releases.
// It is safe for concurrent use.
type HandshakeGate struct {
	total, perSource, loopback int

	mu       sync.Mutex
	sources  map[netip.Prefix][]*Handshake // pending handshakes of each source, oldest first; guarded by mu
	pending  int                           // guarded by mu
	admitted uint64                        // handshakes admitted so far, to order them; guarded by mu
}

// Handshake is one admitted handshake's place in its gate.
type Handshake struct {
	gate   *HandshakeGate
	source netip.Prefix
	order  uint64
	evict  func()
	done   bool // guarded by gate.mu
}

// NewHandshakeGate makes a gate for at most total pending handshakes, at most perSource of
// them from one source, and at most loopback from one loopback address (0: total-1). total
// is at least 2; the caps are at least 1 and below total, so that no single source can fill
// the table.
func NewHandshakeGate(total, perSource, loopback int) *HandshakeGate {
	total = max(total, 2)
	if loopback <= 0 {
		loopback = total - 1
	}
	return &HandshakeGate{
		total:     total,
		perSource: min(max(perSource, 1), total-1),
		loopback:  min(loopback, total-1),
		sources:   map[netip.Prefix][]*Handshake{},
	}
}

// SourceOf is the source a handshake from addr counts against: the address itself for IPv4
// (an IPv4-mapped IPv6 address counts as its IPv4 address) and for a loopback address, its
// /64 for any other IPv6 address.
func SourceOf(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap().WithZone("")
	bits := addr.BitLen()
	if addr.Is6() && !addr.IsLoopback() {
		bits = 64
	}
	p, err := addr.Prefix(bits)
	if err != nil { // the zero Addr: all such connections share one source
		return netip.Prefix{}
	}
	return p
}

// Admit asks for a place for a handshake from addr. ok is false if that source already has
// its share pending, or the table is full and the source is the busiest; the caller then
// closes the connection at once. Otherwise the caller runs
// the handshake and calls Done when it ends, however it ends. evict may be called once, from
// another goroutine, if the gate later needs the place for a newcomer: it must make the
// handshake fail soon (close its connection); the place is already given up when it runs.
// If the table is full, Admit evicts the oldest handshake of the busiest source first.
func (g *HandshakeGate) Admit(addr netip.Addr, evict func()) (h *Handshake, ok bool) {
	src := SourceOf(addr)
	g.mu.Lock()
	if len(g.sources[src]) >= g.capOf(src) {
		g.mu.Unlock()
		return nil, false
	}
	var victim *Handshake
	if g.pending >= g.total {
		victim = g.busiestOldestLocked()
		if len(g.sources[src]) >= len(g.sources[victim.source]) {
			g.mu.Unlock()
			return nil, false // the newcomer's own source is (among) the busiest
		}
		g.removeLocked(victim)
	}
	g.admitted++
	h = &Handshake{gate: g, source: src, order: g.admitted, evict: evict}
	g.sources[src] = append(g.sources[src], h)
	g.pending++
	g.mu.Unlock()
	if victim != nil && victim.evict != nil {
		victim.evict()
	}
	return h, true
}

// Done gives the handshake's place back. It is idempotent, and a no-op after an eviction.
func (h *Handshake) Done() {
	g := h.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	g.removeLocked(h)
}

// capOf is how many pending handshakes src may have.
func (g *HandshakeGate) capOf(src netip.Prefix) int {
	if src.Addr().IsLoopback() {
		return g.loopback
	}
	return g.perSource
}

// Pending is the number of handshakes in progress.
func (g *HandshakeGate) Pending() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.pending
}

// busiestOldestLocked is the oldest handshake of the source with the most pending; of
// sources with equally many, the one whose oldest has waited longest.
func (g *HandshakeGate) busiestOldestLocked() *Handshake {
	var best *Handshake
	bestCount := 0
	for _, hs := range g.sources {
		if len(hs) > bestCount || (len(hs) == bestCount && hs[0].order < best.order) {
			best, bestCount = hs[0], len(hs)
		}
	}
	return best
}

func (g *HandshakeGate) removeLocked(h *Handshake) {
	if h.done {
		return
	}
	h.done = true
	g.pending--
	hs := g.sources[h.source]
	for i, x := range hs {
		if x == h {
			hs = append(hs[:i], hs[i+1:]...)
			break
		}
	}
	if len(hs) == 0 {
		delete(g.sources, h.source)
	} else {
		g.sources[h.source] = hs
	}
}

// awaitFirstBytes waits at most d for c's first byte, so that a stream connection that says
// nothing gives its place in the gate back long before the handshake timeout. It returns a
// connection that reads that byte again first, and clears the read deadline.
func awaitFirstBytes(c net.Conn, d time.Duration) (net.Conn, error) {
	c.SetReadDeadline(time.Now().Add(d))
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return nil, fmt.Errorf("no first bytes within %v: %w", d, err)
	}
	c.SetReadDeadline(time.Time{})
	return &primedConn{Conn: c, first: b[:]}, nil
}

// primedConn is a connection whose first bytes were already read; Read returns them first.
type primedConn struct {
	net.Conn
	first []byte
}

func (c *primedConn) Read(p []byte) (int, error) {
	if len(c.first) > 0 {
		n := copy(p, c.first)
		c.first = c.first[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
