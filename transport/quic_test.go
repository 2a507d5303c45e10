package transport

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"lethe/wire"
)

// A QUIC link negotiates TLS 1.3 with X25519MLKEM768 at both ends, as a TCP link does.
func TestQUICKeyExchangeIsHybridPostQuantum(t *testing.T) {
	checkLeaks(t)
	a, b := pairOver(t, "quic", nodeOptions{}, nodeOptions{})
	for _, l := range []*link{linkOf(t, a, b), linkOf(t, b, a)} {
		if l.kind != overQUIC {
			t.Fatalf("link over %v", l.kind)
		}
		cs := l.tls
		if cs.CurveID != tls.X25519MLKEM768 || cs.Version != tls.VersionTLS13 || cs.DidResume {
			t.Errorf("QUIC link: key exchange %v, version %#x, resumed %v; want X25519MLKEM768, TLS 1.3, no resumption", cs.CurveID, cs.Version, cs.DidResume)
		}
		if cs.NegotiatedProtocol != "" || cs.ServerName != "" {
			t.Errorf("QUIC link named ALPN %q, server name %q; want neither", cs.NegotiatedProtocol, cs.ServerName)
		}
	}
}

// quicDial completes a QUIC handshake with target as the node called name, offering the given
// key exchanges.
func quicDial(tb testing.TB, target *node, name string, curves ...tls.CurveID) (*quic.Conn, error) {
	tb.Helper()
	cert, err := selfSignedCertificate(testIdentity(tb, name), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := clientTLSConfig(cert, rand.Reader, target.id)
	cfg.CurvePreferences = curves
	ua, err := net.ResolveUDPAddr("udp", target.tcp.QUICAddr())
	if err != nil {
		tb.Fatal(err)
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	tr := &quic.Transport{Conn: udp}
	tb.Cleanup(func() { tr.Close(); udp.Close() })
	return tr.Dial(ctxTimeout(tb, 10*time.Second), ua, cfg, &quic.Config{HandshakeIdleTimeout: 5 * time.Second})
}

// A QUIC client offering only classical X25519 is refused; the same client offering
// X25519MLKEM768 completes the handshake.
func TestQUICClassicalClientRefused(t *testing.T) {
	checkLeaks(t)
	b := newTCPNode(t, "b", nodeOptions{quic: true})
	if c, err := quicDial(t, b, "classical", tls.X25519); err == nil {
		c.CloseWithError(0, "")
		t.Fatal("a QUIC client offering only X25519 completed the handshake")
	}
	c, err := quicDial(t, b, "classical", tls.X25519MLKEM768)
	if err != nil {
		t.Fatalf("the same client with X25519MLKEM768: %v", err)
	}
	c.CloseWithError(0, "")
}

// quicLink is an authenticated QUIC peer that has exchanged Hellos with target on its small
// frames' stream and can then send whatever it likes.
func quicLink(tb testing.TB, target *node, name string) (*quic.Conn, *quic.SendStream) {
	tb.Helper()
	c, err := quicDial(tb, target, name, tls.X25519MLKEM768)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.CloseWithError(0, "") })
	s, err := c.OpenUniStream()
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := s.Write(helloFrame(tb, name)); err != nil {
		tb.Fatal(err)
	}
	in, err := c.AcceptUniStream(ctxTimeout(tb, 5*time.Second))
	if err != nil {
		tb.Fatalf("no stream from the node: %v", err)
	}
	in.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := newFrameReader(in).next(); err != nil {
		tb.Fatalf("no Hello from the node: %v", err)
	}
	return c, s
}

// quicCutOff checks that the node closes c within d.
func quicCutOff(tb testing.TB, c *quic.Conn, d time.Duration) {
	tb.Helper()
	select {
	case <-c.Context().Done():
	case <-time.After(d):
		tb.Fatalf("the node did not close the QUIC connection within %v", d)
	}
}

// A hostile QUIC peer, whatever it sends or withholds, is cut off, and the node keeps serving
// its good peer, which is linked over QUIC too.
func TestQUICHostilePeers(t *testing.T) {
	checkLeaks(t)
	b, good, roundTrip := hostileTarget(t, true)
	frame := rawFrame
	cases := []struct {
		name string
		run  func(t *testing.T) *quic.Conn
	}{
		{"garbage datagrams", func(t *testing.T) *quic.Conn {
			u, err := net.Dial("udp", b.tcp.QUICAddr())
			if err != nil {
				t.Fatal(err)
			}
			defer u.Close()
			junk := make([]byte, 1200)
			for range 50 {
				rand.Read(junk)
				u.Write(junk)
			}
			c, _ := quicLink(t, b, "after garbage") // the node still takes handshakes
			c.CloseWithError(0, "")
			return nil
		}},
		{"TLS without a stream", func(t *testing.T) *quic.Conn {
			c, err := quicDial(t, b, "mute", tls.X25519MLKEM768)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.CloseWithError(0, "") })
			return c
		}},
		{"silent after Hello", func(t *testing.T) *quic.Conn { c, _ := quicLink(t, b, "silent"); return c }},
		{"garbage frames", func(t *testing.T) *quic.Conn {
			c, s := quicLink(t, b, "garbage")
			junk := make([]byte, 4096)
			rand.Read(junk)
			junk[0] = 0x7f
			s.Write(junk)
			return c
		}},
		{"split message above the limit on the block stream", func(t *testing.T) *quic.Conn {
			c, _ := quicLink(t, b, "oversized message")
			s, err := c.OpenUniStream()
			if err != nil {
				t.Fatal(err)
			}
			f := frame(classLarge, kindFirst, maxLargePayload, largeFrameSize)
			binary.BigEndian.PutUint32(f[frameHeader:], 100<<20)
			s.Write(f)
			return c
		}},
		{"a third stream", func(t *testing.T) *quic.Conn {
			c, _ := quicLink(t, b, "streams")
			c.OpenUniStream()
			if _, err := c.OpenUniStream(); err == nil {
				t.Error("the node let a peer open a third stream")
			}
			if _, err := c.OpenStream(); err == nil {
				t.Error("the node let a peer open a bidirectional stream")
			}
			c.CloseWithError(0, "")
			return nil
		}},
		{"another node's noderef as an update", func(t *testing.T) *quic.Conn {
			c, s := quicLink(t, b, "liar")
			m, _ := wire.Encode(&wire.NodeRefUpdate{Ref: b.ref}) // another node's noderef
			s.Write(appendFrame(nil, kindWhole, m))
			return c
		}},
		{"message flood", func(t *testing.T) *quic.Conn {
			c, s := quicLink(t, b, "flood")
			go floodKeepalives(s)
			return c
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if c := tc.run(t); c != nil {
				quicCutOff(t, c, 6*time.Second)
			}
			roundTrip()
		})
	}
	checkSurvived(t, b, good, roundTrip)
}

// A noderef whose QUIC address does not answer is dialled over TCP instead, within the
// handshake timeout.
func TestQUICFallsBackToTCP(t *testing.T) {
	checkLeaks(t)
	lim := Limits{HandshakeTimeout: 2 * time.Second}
	a := newTCPNode(t, "a", nodeOptions{quic: true, limits: lim})
	b := newTCPNode(t, "b", nodeOptions{quic: true, limits: lim})
	dead, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close() // bound and never read: QUIC packets vanish there
	ref, err := wire.NewNodeRef(testIdentity(t, "b"), wire.NodeRefInfo{
		Addresses:     []string{b.tcp.Addr()},
		QUICAddresses: []string{dead.LocalAddr().String()},
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := a.Connect(ctxTimeout(t, 5*time.Second), ref); err != nil {
		t.Fatal(err)
	}
	if k := linkOf(t, a, b).kind; k != overTCP {
		t.Errorf("link over %v, want the TCP fallback", k)
	}
	if d := time.Since(start); d > lim.HandshakeTimeout {
		t.Errorf("the fallback took %v, more than the handshake timeout", d)
	}
}

// Peers tell a node where they see it; the node believes an address only when peers at two
// different addresses agree, so that one peer, lying or not, cannot set it.
func TestObservedAddressNeedsTwoPeers(t *testing.T) {
	checkLeaks(t)
	a := newTCPNode(t, "a", nodeOptions{quic: true, host: "127.0.0.1"})
	want := netip.MustParseAddrPort(a.tcp.QUICAddr())
	waitReach := func(what string, ok func(Reachability) bool) Reachability {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			r := a.tcp.Reachability()
			if ok(r) {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: reachability %+v", what, r)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	// A liar alone: one report, nothing believed.
	_, s := quicLink(t, a, "liar")
	lie, _ := wire.Encode(&wire.ObservedAddress{Addr: netip.MustParseAddrPort("198.51.100.66:6666")})
	s.Write(appendFrame(nil, kindWhole, lie))
	r := waitReach("a liar's report", func(r Reachability) bool { return r.Reporters == 1 })
	if r.Outside.IsValid() || r.NAT != NATUnknown {
		t.Fatalf("one peer's report was believed: %+v", r)
	}

	// One honest peer beside the liar: two reports that disagree, nothing believed.
	b := newTCPNode(t, "b", nodeOptions{quic: true, host: "127.0.0.2"})
	if err := b.Connect(ctxTimeout(t, 5*time.Second), a.ref); err != nil {
		t.Fatal(err)
	}
	r = waitReach("an honest report", func(r Reachability) bool { return r.Reporters == 2 })
	if r.Outside.IsValid() {
		t.Fatalf("a disputed address was believed: %+v", r)
	}

	// A second honest peer at another address: the honest address is believed.
	c := newTCPNode(t, "c", nodeOptions{quic: true, host: "127.0.0.3"})
	if err := c.Connect(ctxTimeout(t, 5*time.Second), a.ref); err != nil {
		t.Fatal(err)
	}
	r = waitReach("two honest reports", func(r Reachability) bool { return r.Outside.IsValid() })
	if r.Outside != want || r.Agreeing != 2 || r.NAT != NATConsistent {
		t.Fatalf("reachability %+v, want %v agreed by 2, consistent", r, want)
	}

	// A second liar (another host would be needed to count): peers on one address count once.
	d := newTCPNode(t, "d", nodeOptions{quic: true, host: "127.0.0.3"})
	if err := d.Connect(ctxTimeout(t, 5*time.Second), a.ref); err != nil {
		t.Fatal(err)
	}
	if r := a.tcp.Reachability(); r.Reporters > 3 {
		t.Errorf("peers on one address counted %d times", r.Reporters)
	}
}

// Two nodes that cannot dial each other are introduced by a peer both are linked to and link
// directly over QUIC.
func TestHolePunchingThroughAMutualPeer(t *testing.T) {
	checkLeaks(t)
	a := newTCPNode(t, "a", nodeOptions{quic: true, host: "127.0.0.1"})
	b := newTCPNode(t, "b", nodeOptions{quic: true, host: "127.0.0.2"})
	c := newTCPNode(t, "c", nodeOptions{quic: true, host: "127.0.0.3"})
	for _, n := range []*node{a, b} {
		if err := n.Connect(ctxTimeout(t, 5*time.Second), c.ref); err != nil {
			t.Fatal(err)
		}
	}
	// b as a knows it: a noderef without addresses, as of a node behind a NAT that has no
	// outside address yet.
	hidden, err := wire.NewNodeRef(testIdentity(t, "b"), wire.NodeRefInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Connect(ctxTimeout(t, 5*time.Second), hidden); err == nil {
		t.Fatal("dialled a noderef without addresses")
	}
	deadline := time.Now().Add(10 * time.Second)
	for a.tcp.linkOf(b.id) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no link from a to b within 10 s; a's log:\n%s", a.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if k := linkOf(t, a, b).kind; k != overQUIC {
		t.Errorf("punched link over %v", k)
	}
	if r := a.tcp.Reachability(); r.PunchesTried != 1 || r.PunchesLinked != 1 {
		t.Errorf("a's punches: %+v", r)
	}
	// The punched link is kept: a redials b when it drops.
	b.Disconnect(a.id)
	a.rec.next(t, "down")
	for {
		ev := a.rec.next(t, "up")
		if ev.from == b.id {
			break
		}
	}
}

// A node whose addresses change tells its peers, and a peer redials it at the new ones.
func TestNodeRefUpdateReachesPeers(t *testing.T) {
	checkLeaks(t)
	a, b := pairOver(t, "quic", nodeOptions{}, nodeOptions{})
	moved, err := wire.NewNodeRef(testIdentity(t, "b"), wire.NodeRefInfo{
		Addresses:     []string{b.tcp.Addr()},
		QUICAddresses: []string{b.tcp.QUICAddr(), "127.0.0.9:9"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.tcp.SetRef(moved); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		a.tcp.mu.Lock()
		got := a.tcp.kept[b.id]
		a.tcp.mu.Unlock()
		if got != nil && got.Equal(moved) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a never learnt b's new noderef")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// QUIC handshakes take places in the same gate as TCP ones: one address cannot hold more than
// its share, a client that completes TLS and opens no stream is closed after
// FirstBytesTimeout, and a peer at another address links all the while.
func TestQUICHandshakesShareTheGate(t *testing.T) {
	checkLeaks(t)
	lim := Limits{MaxHandshakes: 8, MaxHandshakesPerSource: 2, FirstBytesTimeout: time.Second, HandshakeTimeout: 5 * time.Second}
	b := newTCPNode(t, "b", nodeOptions{quic: true, limits: lim, host: "127.0.0.1"})
	var mute []*quic.Conn
	for i := range 3 {
		c, err := quicDial(t, b, fmt.Sprintf("mute %d", i), tls.X25519MLKEM768)
		if err != nil {
			continue // refused during the handshake: also a refusal
		}
		t.Cleanup(func() { c.CloseWithError(0, "") })
		mute = append(mute, c)
	}
	waitLog(t, b.log, "too many links being set up from one address")
	good := newTCPNode(t, "good", nodeOptions{quic: true, limits: lim, host: "127.0.0.2"})
	if err := good.Connect(ctxTimeout(t, 10*time.Second), b.ref); err != nil {
		t.Fatalf("a peer at another address while one address holds its share: %v", err)
	}
	for _, c := range mute {
		quicCutOff(t, c, 4*time.Second) // FirstBytesTimeout, with room for a loaded machine
	}
}
