package transport

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// hostileLimits are short enough for the hostile-peer tests to run in a second or two.
var hostileLimits = Limits{
	MessagesPerSecond: 100,
	MessageBurst:      50,
	HandshakeTimeout:  time.Second,
	KeepaliveInterval: 100 * time.Millisecond,
	IdleTimeout:       time.Second,
}

// dialTLS completes the TLS handshake with target as the node called name, without Hello.
func dialTLS(tb testing.TB, target *node, name string) *tls.Conn {
	tb.Helper()
	cert, err := selfSignedCertificate(testIdentity(tb, name), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := net.Dial("tcp", target.tcp.Addr())
	if err != nil {
		tb.Fatal(err)
	}
	c := tls.Client(raw, clientTLSConfig(cert, rand.Reader, target.id))
	if err := c.HandshakeContext(ctxTimeout(tb, 5*time.Second)); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { raw.Close() })
	return c
}

// dialLink is an authenticated peer that has exchanged Hellos with target and can then send
// whatever bytes it likes.
func dialLink(tb testing.TB, target *node, name string) *tls.Conn {
	tb.Helper()
	c := dialTLS(tb, target, name)
	if _, err := c.Write(helloFrame(tb, name)); err != nil {
		tb.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := newFrameReader(c).next(); err != nil {
		tb.Fatalf("no Hello from the node: %v", err)
	}
	return c
}

// helloFrame is the frame of the Hello of the node called name.
func helloFrame(tb testing.TB, name string) []byte {
	tb.Helper()
	ref, err := wire.NewNodeRef(testIdentity(tb, name), wire.NodeRefInfo{})
	if err != nil {
		tb.Fatal(err)
	}
	hello, err := wire.Encode(&wire.Hello{MinVersion: 1, MaxVersion: 1, Ref: ref})
	if err != nil {
		tb.Fatal(err)
	}
	return appendFrame(nil, kindWhole, hello)
}

// cutOff checks that the node closes c within d, reading and dropping whatever it sends
// meanwhile (keepalives).
func cutOff(tb testing.TB, c net.Conn, d time.Duration) {
	tb.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		tb.Fatalf("the node did not cut the connection within %v", d)
	}
}

// hostileTarget is a node under attack, b, with a good peer linked to it over QUIC or TCP,
// and roundTrip, which checks that b still serves the good peer.
func hostileTarget(t *testing.T, quic bool) (b, good *node, roundTrip func()) {
	t.Helper()
	echo := func(n *node, from crypto.NodeID, m wire.Message) {
		if req, ok := m.(*wire.Request); ok {
			n.Send(context.Background(), from, &wire.DataNotFound{ID: req.ID})
		}
	}
	lim := hostileLimits
	if quic {
		// A QUIC handshake is a few more round trips of one core's work: on a loaded
		// machine under the race detector one second is not always enough.
		lim.HandshakeTimeout = 3 * time.Second
	}
	b = newTCPNode(t, "b", nodeOptions{quic: quic, limits: lim, reply: echo})
	good = newTCPNode(t, "good", nodeOptions{quic: quic, limits: lim})
	if err := good.Connect(ctxTimeout(t, 5*time.Second), b.ref); err != nil {
		t.Fatal(err)
	}
	good.rec.next(t, "up")
	if k := linkOf(t, good, b).kind; (k == overQUIC) != quic {
		t.Fatalf("good peer linked over %v", k)
	}
	var id uint64
	roundTrip = func() {
		t.Helper()
		id++
		req := &wire.Request{KeyType: crypto.CHK, ID: id, HTL: 5, Key: crypto.RoutingKey{1}, Timeout: time.Second}
		if err := good.Send(context.Background(), b.id, req); err != nil {
			t.Fatalf("%v; good peer's log:\n%s", err, good.log)
		}
		ev := good.rec.next(t, "msg")
		if dnf, ok := ev.msg.(*wire.DataNotFound); !ok || dnf.ID != id {
			t.Fatalf("good peer got %+v, want DataNotFound %d", ev.msg, id)
		}
	}
	roundTrip()
	return b, good, roundTrip
}

// rawFrame is a frame header with the given fields, zero-padded to size bytes.
func rawFrame(class, kind byte, n uint16, size int) []byte {
	f := make([]byte, size)
	f[0], f[1] = class, kind
	binary.BigEndian.PutUint16(f[2:], n)
	return f
}

// checkSurvived checks, after the attacks, that b logged each kind of cut-off and kept only
// the good peer.
func checkSurvived(t *testing.T, b, good *node, roundTrip func()) {
	t.Helper()
	waitLog(t, b.log, "exceeded its message rate")
	waitLog(t, b.log, "broke the link protocol")
	waitLog(t, b.log, "silent for too long")
	good.rec.none(t, "down", 10*time.Millisecond)
	if len(b.Links()) != 1 {
		t.Errorf("b has %d links after the attacks, want only the good peer's", len(b.Links()))
	}
	roundTrip()
}

// A hostile peer, whatever it sends or withholds, is cut off, and the node keeps serving its
// good peer throughout.
func TestHostilePeers(t *testing.T) {
	checkLeaks(t)
	b, good, roundTrip := hostileTarget(t, false)
	frame := rawFrame
	cases := []struct {
		name string
		run  func(t *testing.T) net.Conn
	}{
		{"garbage before TLS", func(t *testing.T) net.Conn {
			c := rawDial(t, b)
			junk := make([]byte, 4096)
			rand.Read(junk)
			c.Write(junk)
			return c
		}},
		{"half-open TCP", func(t *testing.T) net.Conn { return rawDial(t, b) }},
		{"TLS without Hello", func(t *testing.T) net.Conn { return dialTLS(t, b, "mute") }},
		{"silent after Hello", func(t *testing.T) net.Conn { return dialLink(t, b, "silent") }},
		{"garbage frames", func(t *testing.T) net.Conn {
			c := dialLink(t, b, "garbage")
			junk := make([]byte, 4096)
			rand.Read(junk)
			junk[0] = 0x7f // not a frame class
			c.Write(junk)
			return c
		}},
		{"payload larger than its frame", func(t *testing.T) net.Conn {
			c := dialLink(t, b, "oversized frame")
			c.Write(frame(classLarge, kindWhole, 0xffff, 64))
			return c
		}},
		{"split message above the limit", func(t *testing.T) net.Conn {
			c := dialLink(t, b, "oversized message")
			f := frame(classLarge, kindFirst, maxLargePayload, largeFrameSize)
			binary.BigEndian.PutUint32(f[frameHeader:], 100<<20)
			c.Write(f)
			return c
		}},
		{"malformed message", func(t *testing.T) net.Conn {
			c := dialLink(t, b, "malformed")
			c.Write(appendFrame(nil, kindWhole, []byte{byte(wire.TypeCHKRequest), 1, 2, 3}))
			return c
		}},
		{"message flood", func(t *testing.T) net.Conn {
			c := dialLink(t, b, "flood")
			go floodKeepalives(c)
			return c
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.run(t)
			cutOff(t, c, 3*time.Second)
			roundTrip()
		})
	}
	checkSurvived(t, b, good, roundTrip)
}

// floodKeepalives writes 2000 keepalives to w as fast as it takes them.
func floodKeepalives(w io.Writer) {
	ka := appendFrame(nil, kindWhole, []byte{byte(wire.TypeKeepalive)})
	for range 2000 {
		if _, err := w.Write(ka); err != nil {
			return
		}
	}
}

func rawDial(tb testing.TB, target *node) net.Conn {
	tb.Helper()
	c, err := net.Dial("tcp", target.tcp.Addr())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// A flood of connections that never finish their handshake is bounded: beyond
// MaxHandshakes they are closed at once, and the good peer is still served.
func TestHandshakeFlood(t *testing.T) {
	checkLeaks(t)
	lim := hostileLimits
	lim.MaxHandshakes = 4
	b := newTCPNode(t, "b", nodeOptions{limits: lim})
	var conns []net.Conn
	for range 4 {
		conns = append(conns, rawDial(t, b))
	}
	extra := rawDial(t, b)
	cutOff(t, extra, 300*time.Millisecond) // well before the handshake timeout
	waitLog(t, b.log, "too many links being set up")
	for _, c := range conns {
		cutOff(t, c, 3*time.Second)
	}
	good := newTCPNode(t, "good", nodeOptions{limits: lim})
	if err := good.Connect(ctxTimeout(t, 5*time.Second), b.ref); err != nil {
		t.Fatalf("good peer after the flood: %v", err)
	}
}
