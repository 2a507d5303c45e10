package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/quic-go/quic-go"

	"lethe/wire"
)

// QUIC links (spec §11.1). A node speaks QUIC beside TCP: one UDP socket both accepts QUIC
// links and dials them, so that the address peers see a node's links come from is the address
// they can reach it at once its NAT has a mapping (and the one hole punching opens, §11.5).
// The TLS rules are those of TCP links: TLS 1.3, X25519MLKEM768 only, both identities pinned,
// no resumption, no SNI and no ALPN. QUIC's own 0-RTT, session tickets and address-validation
// tokens are not used.
//
// Inside the QUIC connection each side opens two unidirectional streams: the first carries
// small frames (Hello, requests, replies, keepalives), the second large frames (blocks). Both
// carry the frames of §11.2 unchanged, so the bytes a link sends are those of a TCP link; a
// request is never queued behind a block, not even for one frame.

// QUIC tuning (not protocol).
const (
	// Flow control: a block stream may have this much unread data in flight. 4 MiB holds
	// about 100 ms of a 40 MB/s link; the connection window bounds a peer's buffered bytes
	// whatever it does.
	quicStreamWindow     = 4 << 20
	quicConnectionWindow = 6 << 20
)

// quicEndpoint is a transport's UDP socket and QUIC listener.
type quicEndpoint struct {
	udp *net.UDPConn
	tr  *quic.Transport
	ln  *quic.EarlyListener
}

// quicConfig is the QUIC configuration of links, both ways. A peer may open exactly the two
// unidirectional streams of a link and no bidirectional one.
func (t *TCP) quicConfig() *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:           t.limits.HandshakeTimeout,
		MaxIdleTimeout:                 t.limits.IdleTimeout,
		MaxIncomingStreams:             -1,
		MaxIncomingUniStreams:          2,
		InitialStreamReceiveWindow:     quicStreamWindow / 8,
		MaxStreamReceiveWindow:         quicStreamWindow,
		InitialConnectionReceiveWindow: quicConnectionWindow / 8,
		MaxConnectionReceiveWindow:     quicConnectionWindow,
	}
}

// listenQUIC binds the UDP socket and starts listening for QUIC links on it.
func (t *TCP) listenQUIC(addr string) (*quicEndpoint, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	udp, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, err
	}
	e := &quicEndpoint{udp: udp}
	e.tr = &quic.Transport{
		// Every datagram counted against the bandwidth limits (spec §11.6).
		Conn: t.bandwidth.PacketConn(udp),
		VerifySourceAddress: func(net.Addr) bool {
			// Once a quarter of the handshake places are taken, a new QUIC client must
			// first prove it receives at its source address (a Retry, one round trip), so
			// that spoofed packets cannot take places.
			return t.pendingHandshakes() >= max(1, t.limits.MaxHandshakes/4)
		},
	}
	// The early listener hands over a connection as soon as its ClientHello is processed,
	// before the handshake completes, so that the pending handshake counts against the same
	// limits as a TCP connection and is ended by them.
	if e.ln, err = e.tr.ListenEarly(t.serverTLS, t.quicConfig()); err != nil {
		udp.Close()
		return nil, err
	}
	return e, nil
}

func (e *quicEndpoint) addr() string { return e.udp.LocalAddr().String() }

// close stops the listener and closes every QUIC connection and the socket.
func (e *quicEndpoint) close() {
	e.ln.Close()
	e.tr.Close()
	e.udp.Close()
}

// acceptQUIC accepts inbound QUIC links until the transport closes.
func (t *TCP) acceptQUIC() {
	for {
		c, err := t.quic.ln.Accept(t.ctx)
		if err != nil {
			if t.ctx.Err() != nil || errors.Is(err, quic.ErrServerClosed) {
				return
			}
			t.log.Warn("QUIC accept failed", "err", err)
			select {
			case <-time.After(100 * time.Millisecond):
			case <-t.ctx.Done():
				return
			}
			continue
		}
		// The same gate as TCP connections' (spec §11.4), keyed by the address the
		// packets come from; an eviction closes the QUIC connection.
		h, ok := t.handshakes.Admit(udpAddrPort(c.RemoteAddr()).Addr(), func() { c.CloseWithError(0, "") })
		if !ok {
			t.log.Warn("too many links being set up from one address; refusing a QUIC connection", "limit", t.limits.MaxHandshakesPerSource)
			c.CloseWithError(0, "")
			continue
		}
		if !t.spawn(func() {
			defer h.Done()
			t.acceptQUICLink(c)
		}) {
			c.CloseWithError(0, "")
			h.Done()
		}
	}
}

func (t *TCP) acceptQUICLink(c *quic.Conn) {
	ctx, cancel := context.WithTimeout(t.ctx, t.limits.HandshakeTimeout)
	defer cancel()
	l, err := t.quicHandshake(ctx, c, nil)
	if err == nil {
		err = t.register(l, inbound)
	}
	if err != nil {
		c.CloseWithError(0, "")
		t.log.Info("refused an inbound link", "err", err, "over", overQUIC)
		t.log.Debug("refused inbound link address", "addr", c.RemoteAddr().String())
	}
}

// dialQUIC connects to addr over QUIC from the transport's socket and runs the handshake.
func (t *TCP) dialQUIC(ctx context.Context, addr string, ref *wire.NodeRef) (*link, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	return t.dialQUICAt(ctx, ua, ref)
}

func (t *TCP) dialQUICAt(ctx context.Context, ua *net.UDPAddr, ref *wire.NodeRef) (*link, error) {
	c, err := t.quic.tr.Dial(ctx, ua, clientTLSConfig(t.cert, t.rand, ref.ID()), t.quicConfig())
	if err != nil {
		return nil, fmt.Errorf("QUIC handshake: %w", err)
	}
	l, err := t.quicHandshake(ctx, c, ref)
	if err != nil {
		c.CloseWithError(0, "")
	}
	return l, err
}

// quicHandshake waits for TLS to complete on c, runs the Hello exchange on the small frames'
// streams and opens the large frames' stream. want is the noderef dialled, nil for an
// inbound connection.
func (t *TCP) quicHandshake(ctx context.Context, c *quic.Conn, want *wire.NodeRef) (*link, error) {
	select {
	case <-c.HandshakeComplete():
	case <-c.Context().Done():
		return nil, fmt.Errorf("QUIC handshake: %w", context.Cause(c.Context()))
	case <-ctx.Done():
		return nil, fmt.Errorf("QUIC handshake: %w", ctx.Err())
	}
	deadline, _ := ctx.Deadline()
	stream, err := c.OpenUniStream()
	if err != nil {
		return nil, err
	}
	stream.SetWriteDeadline(deadline)
	// The socket counts the link's bytes; its streams wait while a bucket is in debt.
	smallOut := t.bandwidth.gateWriter(stream)
	in := &quicInbound{c: c, handshake: ctx, deadline: deadline}
	if want == nil {
		// A client that completed TLS and says nothing gives its place back soon, as a TCP
		// connection that sends no first bytes does.
		first, cancel := context.WithTimeout(ctx, t.limits.FirstBytesTimeout)
		defer cancel()
		in.handshake = first
	}
	smallIn := t.bandwidth.gateReader(in.lane(0))
	fr := newFrameReader(smallIn)
	// The dialler's Hello opens its stream, which the listener then accepts.
	peer, err := t.exchangeHellos(c.ConnectionState().TLS, smallOut, fr, want)
	if err != nil {
		return nil, err
	}
	in.small.SetReadDeadline(time.Time{})
	stream.SetWriteDeadline(time.Time{})
	largeOut, err := c.OpenUniStream()
	if err != nil {
		return nil, err
	}
	lanes := []*lane{
		newLane(smallOut, smallIn, fr, laneSmall),
		newLane(t.bandwidth.gateWriter(largeOut), t.bandwidth.gateReader(in.lane(1)), nil, laneLarge),
	}
	l := newLink(t, overQUIC, lanes, func() { c.CloseWithError(0, "") }, udpAddrPort(c.RemoteAddr()), peer)
	l.tls = c.ConnectionState().TLS
	return l, nil
}

// quicInbound holds the peer's two streams of a link: the small frames' stream, accepted
// during the handshake, and the large frames' stream, accepted when the peer first uses it.
// Each is set by its lane's reader only.
type quicInbound struct {
	c         *quic.Conn
	handshake context.Context // bounds accepting the small stream
	deadline  time.Time       // of the handshake
	small     *quic.ReceiveStream
	large     *quic.ReceiveStream
}

// lane is the reader of the peer's stream i (0 small, 1 large).
func (in *quicInbound) lane(i int) laneReader { return &quicStreamReader{in: in, i: i} }

type quicStreamReader struct {
	in *quicInbound
	i  int
}

func (r *quicStreamReader) Read(p []byte) (int, error) {
	in := r.in
	if r.i == 0 {
		if in.small == nil {
			s, err := in.accept(in.handshake, 0)
			if err != nil {
				return 0, err
			}
			s.SetReadDeadline(in.deadline)
			in.small = s
		}
		return in.small.Read(p)
	}
	if in.large == nil {
		// The peer opens its large stream with its first block.
		s, err := in.accept(in.c.Context(), 1)
		if err != nil {
			return 0, err
		}
		in.large = s
	}
	return in.large.Read(p)
}

// accept takes the peer's next stream, which must be its stream number i.
func (in *quicInbound) accept(ctx context.Context, i int) (*quic.ReceiveStream, error) {
	s, err := in.c.AcceptUniStream(ctx)
	if err != nil {
		return nil, err
	}
	if int(s.StreamID()>>2) != i {
		return nil, protocolError("stream %d where the peer's stream number %d belongs", s.StreamID(), i)
	}
	return s, nil
}

// SetReadDeadline applies to the small stream only: the large one may rightly stay silent,
// and keepalives travel on the small one.
func (r *quicStreamReader) SetReadDeadline(d time.Time) error {
	if r.i == 0 && r.in.small != nil {
		return r.in.small.SetReadDeadline(d)
	}
	return nil
}

// closedByPeer reports whether err is the peer closing its QUIC connection.
func closedByPeer(err error) bool {
	var app *quic.ApplicationError
	return errors.As(err, &app) && app.Remote
}

func udpAddrPort(a net.Addr) netip.AddrPort {
	if ua, ok := a.(*net.UDPAddr); ok {
		ap := ua.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// pendingHandshakes is the number of inbound handshakes in progress.
func (t *TCP) pendingHandshakes() int { return t.handshakes.Pending() }
