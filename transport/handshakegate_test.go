package transport

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
)

func TestSourceOf(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"192.0.2.7", "192.0.2.7/32"},
		{"::ffff:192.0.2.7", "192.0.2.7/32"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::1/128"},
		{"127.0.0.5", "127.0.0.5/32"},
	} {
		if got := SourceOf(netip.MustParseAddr(tc.addr)).String(); got != tc.want {
			t.Errorf("SourceOf(%s) = %s, want %s", tc.addr, got, tc.want)
		}
	}
}

// The gate's rule, step by step: a per-source cap, eviction of the busiest source's oldest
// handshake when full, and Done that is safe after an eviction or twice.
func TestHandshakeGate(t *testing.T) {
	g := NewHandshakeGate(4, 2, 0)
	var evicted []string
	admit := func(addr, name string) *Handshake {
		t.Helper()
		h, ok := g.Admit(netip.MustParseAddr(addr), func() { evicted = append(evicted, name) })
		if !ok {
			t.Fatalf("%s from %s refused", name, addr)
		}
		return h
	}
	refused := func(addr string) {
		t.Helper()
		if _, ok := g.Admit(netip.MustParseAddr(addr), nil); ok {
			t.Fatalf("a third handshake from %s admitted beside two", addr)
		}
	}

	a1 := admit("2001:db8::1", "a1")
	admit("2001:db8::2", "a2") // the same /64
	refused("2001:db8::3")
	b1 := admit("192.0.2.1", "b1")
	refused("2001:db8::ffff") // still a's /64
	admit("198.51.100.1", "c1")
	if g.Pending() != 4 || len(evicted) != 0 {
		t.Fatalf("pending %d, evicted %v; want 4, none", g.Pending(), evicted)
	}

	// Full: the busiest source is a's /64 (two), so its oldest goes.
	admit("203.0.113.1", "d1")
	if len(evicted) != 1 || evicted[0] != "a1" {
		t.Fatalf("evicted %v, want [a1]", evicted)
	}
	a1.Done() // after its eviction: nothing
	if g.Pending() != 4 {
		t.Fatalf("pending %d after an evicted handshake's Done, want 4", g.Pending())
	}
	// Now every source has one: the oldest of all goes (a2, then b1).
	admit("203.0.113.2", "e1")
	admit("203.0.113.3", "f1")
	if len(evicted) != 3 || evicted[1] != "a2" || evicted[2] != "b1" {
		t.Fatalf("evicted %v, want [a1 a2 b1]", evicted)
	}
	b1.Done()
	b1.Done()
	if g.Pending() != 4 {
		t.Fatalf("pending %d, want 4", g.Pending())
	}
	admit("2001:db8::3", "a3") // a's /64 has nothing pending now: it evicts the oldest (c1)
	// Full, and every source has one pending: one of them asking for a second is refused,
	// since it would evict another's.
	refused("203.0.113.1")
	if g.Pending() != 4 || len(evicted) != 4 {
		t.Fatalf("pending %d, evicted %v; want 4, [a1 a2 b1 c1]", g.Pending(), evicted)
	}
}

// When the table is full, a newcomer from the busiest source is refused rather than evict
// its own source's handshakes.
func TestHandshakeGateBusiestSourceWaits(t *testing.T) {
	g := NewHandshakeGate(4, 3, 0)
	busy, quiet := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.1")
	evictions := 0
	for range 3 {
		if _, ok := g.Admit(busy, func() { evictions++ }); !ok {
			t.Fatal("refused below the cap")
		}
	}
	if _, ok := g.Admit(quiet, nil); !ok {
		t.Fatal("a second source refused with room in the table")
	}
	if _, ok := g.Admit(busy, nil); ok || evictions != 0 {
		t.Errorf("the busiest source, the table full: admitted %v, %d of its own evicted", ok, evictions)
	}
	if _, ok := g.Admit(quiet, nil); !ok || evictions != 1 {
		t.Errorf("a quieter source, the table full: admitted %v, %d of the busiest's evicted; want true, 1", ok, evictions)
	}
}

// One source can hold at most its share of the table, whatever it asks for.
func TestHandshakeGateOneSourceNeverFillsIt(t *testing.T) {
	for _, tc := range []struct {
		total, perSource, loopback int
		addr                       string
		want                       int
	}{
		{32, 4, 0, "192.0.2.1", 4}, {4, 4, 0, "192.0.2.1", 3}, {2, 8, 0, "192.0.2.1", 1}, {1, 1, 0, "192.0.2.1", 1},
		{32, 0, 0, "192.0.2.1", 1}, {32, 8, 0, "2001:db8::1", 8},
		// This machine (the nodes of a test network): all but one place by default.
		{32, 8, 0, "127.0.0.1", 31}, {32, 8, 0, "::1", 31}, {32, 8, 0, "::ffff:127.0.0.2", 31},
		{32, 8, 2, "127.0.0.1", 2}, {4, 8, 9, "127.0.0.1", 3},
	} {
		g := NewHandshakeGate(tc.total, tc.perSource, tc.loopback)
		n := 0
		for range 100 {
			if _, ok := g.Admit(netip.MustParseAddr(tc.addr), nil); ok {
				n++
			}
		}
		if n != tc.want {
			t.Errorf("NewHandshakeGate(%d, %d, %d): %s got %d places, want %d", tc.total, tc.perSource, tc.loopback, tc.addr, n, tc.want)
		}
	}
}

// dialFrom opens a TCP connection to target from the loopback address local (any of
// 127.0.0.0/8 is this machine), and sends nothing.
func dialFrom(tb testing.TB, target *node, local string) net.Conn {
	tb.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", target.tcp.Addr())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// isOpen reports whether the node still holds c open after wait (it sends nothing on a
// connection that has not spoken).
func isOpen(c net.Conn, wait time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(wait))
	_, err := io.Copy(io.Discard, c)
	return errors.Is(err, os.ErrDeadlineExceeded)
}

// Issue 16, finding 3: idle connections from one address, 40 of them where 32 used to lock a
// node out of every inbound link, leave room for a real peer. The source (here a loopback
// address, which may hold all places but one) keeps its places; the rest are closed at once.
func TestIdleConnectionsFromOneAddressDoNotLockOut(t *testing.T) {
	checkLeaks(t)
	lim := Limits{FirstBytesTimeout: 20 * time.Second, HandshakeTimeout: 20 * time.Second}
	b := newTCPNode(t, "b", nodeOptions{limits: lim})
	var idle []net.Conn
	for range 40 {
		idle = append(idle, dialFrom(t, b, "127.0.0.2"))
	}
	good := newTCPNode(t, "good", nodeOptions{})
	if err := good.Connect(ctxTimeout(t, 10*time.Second), b.ref); err != nil {
		t.Fatalf("a real peer beside 40 idle connections from one address: %v", err)
	}
	open := 0
	for _, c := range idle {
		if isOpen(c, 50*time.Millisecond) {
			open++
		}
	}
	if open != defaultMaxHandshakes-1 {
		t.Errorf("%d idle connections from one loopback address held open, want %d", open, defaultMaxHandshakes-1)
	}
}

// When sources enough to fill the table each hold a place, a newcomer evicts the oldest
// pending handshake instead of being refused.
func TestFullHandshakeTableEvictsOldest(t *testing.T) {
	checkLeaks(t)
	lim := Limits{FirstBytesTimeout: 20 * time.Second, HandshakeTimeout: 20 * time.Second}
	b := newTCPNode(t, "b", nodeOptions{limits: lim})
	var idle []net.Conn
	for i := range defaultMaxHandshakes {
		idle = append(idle, dialFrom(t, b, netip.AddrFrom4([4]byte{127, 0, 1, byte(i + 1)}).String()))
	}
	waitFor(t, func() bool { return b.tcp.handshakes.Pending() == defaultMaxHandshakes })
	good := newTCPNode(t, "good", nodeOptions{})
	if err := good.Connect(ctxTimeout(t, 10*time.Second), b.ref); err != nil {
		t.Fatalf("a real peer beside a full table of idle connections: %v", err)
	}
	if isOpen(idle[0], 2*time.Second) {
		t.Error("the oldest idle connection is still open after a newcomer needed its place")
	}
	for i, c := range idle[1:] {
		if !isOpen(c, 10*time.Millisecond) {
			t.Errorf("idle connection %d closed; only the oldest should have been", i+1)
		}
	}
}

// A connection that sends nothing is closed after the first-bytes deadline (2 s), not held
// for the whole handshake timeout (10 s).
func TestSilentConnectionClosedEarly(t *testing.T) {
	checkLeaks(t)
	b := newTCPNode(t, "b", nodeOptions{})
	c := rawDial(t, b)
	start := time.Now()
	cutOff(t, c, defaultFirstBytes+3*time.Second)
	t.Logf("closed after %v", time.Since(start).Round(time.Millisecond))
}
