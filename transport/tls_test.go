package transport

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"lethe/wire"
)

func linkOf(tb testing.TB, n *node, peer *node) *link {
	tb.Helper()
	n.tcp.mu.Lock()
	defer n.tcp.mu.Unlock()
	l := n.tcp.links[peer.id]
	if l == nil {
		tb.Fatalf("no link from %v to %v", n.id.Short(), peer.id.Short())
	}
	return l
}

// A real loopback link negotiates TLS 1.3 with the hybrid post-quantum X25519MLKEM768, at
// both ends.
func TestKeyExchangeIsHybridPostQuantum(t *testing.T) {
	checkLeaks(t)
	a, b := pair(t, true, nodeOptions{}, nodeOptions{})
	for _, l := range []*link{linkOf(t, a, b), linkOf(t, b, a)} {
		cs := l.tls
		if cs.CurveID != tls.X25519MLKEM768 {
			t.Errorf("negotiated key exchange %v, want X25519MLKEM768", cs.CurveID)
		}
		if cs.Version != tls.VersionTLS13 {
			t.Errorf("negotiated TLS version %#x, want 1.3", cs.Version)
		}
		if cs.DidResume {
			t.Error("link resumed a session")
		}
	}
}

// rawClientConfig is a client configured like a node's but with the given key exchanges.
func rawClientConfig(tb testing.TB, name string, curves []tls.CurveID) *tls.Config {
	tb.Helper()
	cert, err := selfSignedCertificate(testIdentity(tb, name), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return &tls.Config{
		Certificates:       []tls.Certificate{cert},
		InsecureSkipVerify: true,
		MinVersion:         tls.VersionTLS13,
		CurvePreferences:   curves,
	}
}

// A client that offers only classical X25519 is refused during the handshake; the same
// client offering X25519MLKEM768 gets through, so the key exchange is what was refused.
func TestClassicalClientRefused(t *testing.T) {
	checkLeaks(t)
	b := newTCPNode(t, "b", nodeOptions{})
	dial := func(curves ...tls.CurveID) error {
		d := tls.Dialer{Config: rawClientConfig(t, "classical", curves)}
		c, err := d.DialContext(ctxTimeout(t, 5*time.Second), "tcp", b.tcp.Addr())
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial(tls.X25519); err == nil {
		t.Fatal("a client offering only X25519 completed the handshake")
	}
	if err := dial(tls.X25519MLKEM768); err != nil {
		t.Fatalf("the same client with X25519MLKEM768: %v", err)
	}
	waitLog(t, b.log, "refused an inbound link")
}

// A server that offers only classical key exchange is refused by a dialling node.
func TestClassicalServerRefused(t *testing.T) {
	checkLeaks(t)
	a := newTCPNode(t, "a", nodeOptions{})
	cert, err := selfSignedCertificate(testIdentity(t, "server"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates:     []tls.Certificate{cert},
		CurvePreferences: []tls.CurveID{tls.X25519},
		ClientAuth:       tls.RequireAnyClientCert,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	ref, err := wire.NewNodeRef(testIdentity(t, "server"), wire.NodeRefInfo{Addresses: []string{ln.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Connect(ctxTimeout(t, 5*time.Second), ref); err == nil {
		t.Fatal("connected to a server offering only X25519")
	}
	if len(a.Links()) != 0 {
		t.Error("a link is up")
	}
}

// Dialling a noderef whose address leads to another node fails: the server does not prove
// the identity the noderef names.
func TestWrongServerIdentityRefused(t *testing.T) {
	checkLeaks(t)
	a := newTCPNode(t, "a", nodeOptions{})
	c := newTCPNode(t, "c", nodeOptions{})
	// A genuine noderef of b, pointing at c's address (b is not running).
	misdirected, err := wire.NewNodeRef(testIdentity(t, "b"), wire.NodeRefInfo{Addresses: []string{c.tcp.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	err = a.Connect(ctxTimeout(t, 5*time.Second), misdirected)
	if !errors.Is(err, ErrIdentityMismatch) {
		t.Fatalf("Connect to the wrong node: %v, want ErrIdentityMismatch", err)
	}
	if len(a.Links()) != 0 || len(c.Links()) != 0 {
		t.Error("a link came up")
	}
	c.rec.none(t, "up", 100*time.Millisecond)
}

// A dialler whose Hello carries a noderef of another identity than its certificate is
// refused, and never sees a link come up.
func TestWrongClientIdentityRefused(t *testing.T) {
	checkLeaks(t)
	a := newTCPNode(t, "a", nodeOptions{})
	b := newTCPNode(t, "b", nodeOptions{})
	stolen, err := wire.NewNodeRef(testIdentity(t, "victim"), wire.NodeRefInfo{})
	if err != nil {
		t.Fatal(err)
	}
	a.tcp.mu.Lock()
	a.tcp.ref = stolen // what a node pretending to be "victim" would present
	a.tcp.mu.Unlock()
	if err := a.Connect(ctxTimeout(t, 5*time.Second), b.ref); err == nil {
		t.Fatal("a node presenting another node's noderef connected")
	}
	b.rec.none(t, "up", 100*time.Millisecond)
	waitLog(t, b.log, "the certificate is")
}

// A client without a certificate cannot complete the handshake.
func TestClientWithoutCertificateRefused(t *testing.T) {
	checkLeaks(t)
	b := newTCPNode(t, "b", nodeOptions{})
	cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", b.tcp.Addr(), cfg)
	if err == nil {
		// TLS 1.3 clients finish before the server has checked them; the refusal shows on
		// the first read.
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	if err == nil {
		t.Fatal("a client without a certificate was served")
	}
	b.rec.none(t, "up", 50*time.Millisecond)
}

// waitLog waits until the node's log contains s.
func waitLog(tb testing.TB, lb *logBuffer, s string) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(lb.String(), s) {
		if time.Now().After(deadline) {
			tb.Fatalf("log never said %q; it has:\n%s", s, lb.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var _ = context.Background
