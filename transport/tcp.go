package transport

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// Config configures a TCP transport. Every field but Identity has a working zero value.
type Config struct {
	// Bandwidth, if set, limits and counts what all links send and receive together.
	Bandwidth *Bandwidth
	// Identity is the node's identity key; links are authenticated with it. Required.
	Identity *crypto.NodeIdentity
	// ListenAddr is where to accept links ("127.0.0.1:0", ":41000"). Empty: no listener, the
	// node only dials out.
	ListenAddr string
	// QUICAddr is the UDP address where QUIC links are accepted and from which QUIC links
	// are dialled (spec §11.1). Empty: the transport speaks TCP only.
	QUICAddr string
	// Ref is the noderef this node presents in its Hello. Nil: one made from Identity and
	// the listening address, without location. SetRef replaces it later.
	Ref *wire.NodeRef
	// Handler receives peers' events and messages. Nil: they are dropped.
	Handler Handler
	// AcceptPeer decides whether an authenticated peer that dialled in may stay; an error
	// refuses it (ErrRefused). Nil: every authenticated peer is accepted.
	AcceptPeer func(p Peer) error
	// PeerRefUpdated is called with a peer's new noderef when the peer announces one on its
	// link (its addresses changed). Nil: the transport alone uses it, to redial the peer.
	PeerRefUpdated func(ref *wire.NodeRef)
	// WantsPunch decides whether this node helps a node it has no link to punch through
	// its NAT towards it, when a peer introduces them. Nil: always.
	WantsPunch func(id crypto.NodeID) bool
	// Limits bound what each peer may make this node do; zero fields take the defaults.
	Limits Limits
	// Logger receives link events; peers appear by their short ID, addresses only at debug
	// level. Nil: silent.
	Logger *slog.Logger
	// Rand is the randomness for TLS. Nil: crypto/rand.
	Rand io.Reader
}

// Limits are the per-peer limits of spec §11.4, all enforced before decoding. A peer that
// exceeds one is disconnected and the event logged.
type Limits struct {
	// MessagesPerSecond and MessageBurst: a token bucket on the messages a peer sends
	// (defaults 5000 and 10000).
	MessagesPerSecond float64
	MessageBurst      int
	// MaxQueuedBytes bounds the encoded bytes waiting to be sent on one link (default
	// 1 MiB), and small messages have a quarter of it more of their own (sendQueue.fits):
	// Send waits or fails with ErrQueueFull beyond it.
	MaxQueuedBytes int
	// MaxHandshakes bounds the inbound links being set up at once (default 32), and
	// MaxHandshakesPerSource those from one IPv4 address or IPv6 /64 (default 8; from a
	// loopback address, all but one place unless MaxHandshakesPerSource is set, since the
	// nodes of a test network on one machine all come from 127.0.0.1): see HandshakeGate.
	MaxHandshakes          int
	MaxHandshakesPerSource int
	// FirstBytesTimeout: an inbound connection that sends nothing for this long is closed
	// (default 2 s).
	FirstBytesTimeout time.Duration
	// HandshakeTimeout bounds TCP connect, TLS handshake and Hello (default 10 s).
	HandshakeTimeout time.Duration
	// KeepaliveInterval: a link with nothing to send sends a keepalive this often
	// (default 10 s).
	KeepaliveInterval time.Duration
	// IdleTimeout: a link on which nothing arrives, or nothing can be written, for this
	// long is closed (default 3 keepalive intervals).
	IdleTimeout time.Duration
}

// Tuning constants (not part of the protocol).
const (
	defaultMessagesPerSecond = 5000
	defaultMessageBurst      = 10000
	defaultMaxQueuedBytes    = 1 << 20
	defaultMaxHandshakes     = 32
	defaultPerSource         = 8
	defaultFirstBytes        = 2 * time.Second
	defaultHandshakeTimeout  = 10 * time.Second
	defaultKeepalive         = 10 * time.Second

	// Redialling a kept peer starts after redialMin and doubles up to redialMax: short
	// enough that a restarted peer is back within seconds, never minutes of silence.
	redialMin = 200 * time.Millisecond
	redialMax = 5 * time.Second

	// duplicateGrace: when two links to the same peer come up within this time of each
	// other (both nodes dialled at once), both nodes keep the one dialled by the smaller
	// node ID. After it, a new link replaces the old, which is likely dead (the peer
	// restarted).
	duplicateGrace = 2 * time.Second
)

func (l Limits) withDefaults() Limits {
	if l.MessagesPerSecond <= 0 {
		l.MessagesPerSecond = defaultMessagesPerSecond
	}
	if l.MessageBurst <= 0 {
		l.MessageBurst = defaultMessageBurst
	}
	if l.MaxQueuedBytes <= 0 {
		l.MaxQueuedBytes = defaultMaxQueuedBytes
	}
	if l.MaxHandshakes <= 0 {
		l.MaxHandshakes = defaultMaxHandshakes
	}
	if l.MaxHandshakesPerSource <= 0 {
		l.MaxHandshakesPerSource = defaultPerSource
	}
	if l.FirstBytesTimeout <= 0 {
		l.FirstBytesTimeout = defaultFirstBytes
	}
	if l.HandshakeTimeout <= 0 {
		l.HandshakeTimeout = defaultHandshakeTimeout
	}
	if l.KeepaliveInterval <= 0 {
		l.KeepaliveInterval = defaultKeepalive
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = 3 * l.KeepaliveInterval
	}
	return l
}

// TCP is the real transport: TLS 1.3 links over TCP (spec §11). New binds the listener, Run
// accepts links, Close ends everything.
type TCP struct {
	identity   *crypto.NodeIdentity
	cert       tls.Certificate
	serverTLS  *tls.Config
	rand       io.Reader
	limits     Limits
	bandwidth  *Bandwidth // nil: no limit
	handler    Handler
	accept     func(Peer) error
	log        *slog.Logger
	ln         net.Listener // nil if not listening
	reach      *reach
	refUpdated func(*wire.NodeRef)
	wantsPunch func(crypto.NodeID) bool
	quic       *quicEndpoint // nil if the transport speaks TCP only

	ctx        context.Context // ends at Close
	cancel     context.CancelFunc
	wg         sync.WaitGroup // every goroutine the transport starts
	handshakes *HandshakeGate // inbound handshakes in progress

	mu        sync.Mutex
	ref       *wire.NodeRef                   // guarded by mu
	links     map[crypto.NodeID]*link         // guarded by mu
	kept      map[crypto.NodeID]*wire.NodeRef // peers to redial; guarded by mu
	redialing map[crypto.NodeID]bool          // guarded by mu
	closed    bool                            // guarded by mu
}

var _ Transport = (*TCP)(nil)

// New makes a TCP transport and, if cfg.ListenAddr is set, binds its listener, so that
// Addr and the noderef are known before Run.
func New(cfg Config) (*TCP, error) {
	if cfg.Identity == nil {
		return nil, errors.New("transport: no identity")
	}
	t := &TCP{
		identity:   cfg.Identity,
		rand:       cfg.Rand,
		limits:     cfg.Limits.withDefaults(),
		bandwidth:  cfg.Bandwidth,
		handler:    cfg.Handler,
		accept:     cfg.AcceptPeer,
		log:        cfg.Logger,
		reach:      newReach(),
		refUpdated: cfg.PeerRefUpdated,
		wantsPunch: cfg.WantsPunch,
		links:      map[crypto.NodeID]*link{},
		kept:       map[crypto.NodeID]*wire.NodeRef{},
		redialing:  map[crypto.NodeID]bool{},
	}
	if t.rand == nil {
		t.rand = rand.Reader
	}
	if t.handler == nil {
		t.handler = discard{}
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if t.limits.MaxQueuedBytes < wire.MaxMessageSize {
		return nil, fmt.Errorf("transport: MaxQueuedBytes %d is below one message (%d)", t.limits.MaxQueuedBytes, wire.MaxMessageSize)
	}
	var err error
	if t.cert, err = selfSignedCertificate(cfg.Identity, t.rand); err != nil {
		return nil, err
	}
	t.serverTLS = serverTLSConfig(t.cert, t.rand)
	loopback := 0 // the gate's default: all places but one
	if cfg.Limits.MaxHandshakesPerSource > 0 {
		loopback = cfg.Limits.MaxHandshakesPerSource // set on purpose: for every address
	}
	t.handshakes = NewHandshakeGate(t.limits.MaxHandshakes, t.limits.MaxHandshakesPerSource, loopback)
	if cfg.ListenAddr != "" {
		if t.ln, err = net.Listen("tcp", cfg.ListenAddr); err != nil {
			return nil, fmt.Errorf("transport: listen: %w", err)
		}
	}
	if cfg.QUICAddr != "" {
		if t.quic, err = t.listenQUIC(cfg.QUICAddr); err != nil {
			t.closeListener()
			return nil, fmt.Errorf("transport: listen: %w", err)
		}
	}
	t.ref = cfg.Ref
	if t.ref == nil {
		var info wire.NodeRefInfo
		if ap, err := netip.ParseAddrPort(t.Addr()); err == nil && !ap.Addr().IsUnspecified() {
			info.Addresses = []string{ap.String()}
		}
		if ap, err := netip.ParseAddrPort(t.QUICAddr()); err == nil && !ap.Addr().IsUnspecified() {
			info.QUICAddresses = []string{ap.String()}
		}
		if t.ref, err = wire.NewNodeRef(cfg.Identity, info); err != nil {
			t.closeListener()
			return nil, fmt.Errorf("transport: %w", err)
		}
	}
	if t.ref.ID() != cfg.Identity.ID() {
		t.closeListener()
		return nil, errors.New("transport: Config.Ref is another node's noderef")
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	return t, nil
}

func (t *TCP) closeListener() {
	if t.ln != nil {
		t.ln.Close()
	}
	if t.quic != nil {
		t.quic.close()
	}
}

// Addr is the listening address, or "" if the transport does not listen.
func (t *TCP) Addr() string {
	if t.ln == nil {
		return ""
	}
	return t.ln.Addr().String()
}

// QUICAddr is the UDP address of QUIC links, or "" if the transport speaks TCP only.
func (t *TCP) QUICAddr() string {
	if t.quic == nil {
		return ""
	}
	return t.quic.addr()
}

// Ref is the noderef the transport presents.
func (t *TCP) Ref() *wire.NodeRef {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ref
}

// SetRef replaces the noderef presented to peers from now on (new addresses, a new location
// after a swap). It must be this node's. If its addresses changed, every linked peer is sent
// it (NodeRefUpdate), so that peers redial the node where it now is.
func (t *TCP) SetRef(ref *wire.NodeRef) error {
	if ref.ID() != t.identity.ID() {
		return errors.New("transport: SetRef with another node's noderef")
	}
	t.mu.Lock()
	old := t.ref
	t.ref = ref
	var links []*link
	if old != nil && (!slices.Equal(old.Addresses(), ref.Addresses()) || !slices.Equal(old.QUICAddresses(), ref.QUICAddresses())) {
		for _, l := range t.links {
			links = append(links, l)
		}
	}
	t.mu.Unlock()
	for _, l := range links {
		t.sendLink(context.Background(), l, &wire.NodeRefUpdate{Ref: ref})
	}
	return nil
}

// Run accepts inbound links until ctx ends or Close is called, then closes the transport
// and returns nil. Without a listener it only waits.
func (t *TCP) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { t.Close() })
	defer stop()
	if t.quic != nil {
		t.spawn(t.acceptQUIC)
	}
	if t.ln == nil {
		<-t.ctx.Done()
		return nil
	}
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if t.ctx.Err() != nil {
				return nil
			}
			// Out of file descriptors and the like: wait a little rather than spin.
			t.log.Warn("accept failed", "err", err)
			select {
			case <-time.After(100 * time.Millisecond):
			case <-t.ctx.Done():
				return nil
			}
			continue
		}
		h, ok := t.handshakes.Admit(remoteAddr(c), func() { c.Close() })
		if !ok {
			t.log.Warn("too many links being set up from one address; refusing a connection", "limit", t.limits.MaxHandshakesPerSource)
			c.Close()
			continue
		}
		if !t.spawn(func() {
			defer h.Done()
			t.acceptLink(c)
		}) {
			c.Close()
			h.Done()
		}
	}
}

// spawn starts f as one of the transport's goroutines, unless it is closed.
func (t *TCP) spawn(f func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f()
	}()
	return true
}

// remoteAddr is the address c comes from, the zero Addr if it is not an IP address.
func remoteAddr(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr()
	}
	return netip.Addr{}
}

func (t *TCP) acceptLink(c net.Conn) {
	ctx, cancel := context.WithTimeout(t.ctx, t.limits.HandshakeTimeout)
	defer cancel()
	primed, err := awaitFirstBytes(c, min(t.limits.FirstBytesTimeout, t.limits.HandshakeTimeout))
	var l *link
	if err == nil {
		l, err = t.handshake(ctx, primed, nil)
	}
	if err == nil {
		err = t.register(l, inbound)
	}
	if err != nil {
		c.Close()
		t.log.Info("refused an inbound link", "err", err)
		t.log.Debug("refused inbound link address", "addr", c.RemoteAddr().String())
	}
}

// Connect dials the peer of ref; see Transport.
func (t *TCP) Connect(ctx context.Context, ref *wire.NodeRef) error {
	if ref.ID() == t.identity.ID() {
		return errors.New("transport: connect to self")
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return ErrClosed
	}
	if t.links[ref.ID()] != nil {
		t.kept[ref.ID()] = ref
		t.mu.Unlock()
		return nil
	}
	t.mu.Unlock()
	// A peer behind a NAT may be reachable only through hole punching: if the direct dial
	// has not succeeded within punchAfter, peers are asked to introduce it as well.
	asked := time.AfterFunc(punchAfter, func() { t.wantPunch(ref) })
	err := t.dial(ctx, ref, keep)
	if asked.Stop() && err != nil {
		t.wantPunch(ref)
	}
	return err
}

// How register treats the peer of a new link.
type registerMode int

const (
	inbound   registerMode = iota // the peer dialled; nothing to keep
	keep                          // Connect: keep the peer, redial it when the link drops
	stillKept                     // redial: register only if the peer is still kept
)

// errNotKept: a redial finished after Disconnect; its link is dropped.
var errNotKept = errors.New("peer no longer kept")

// dial tries ref's QUIC addresses, then its TCP addresses, in order, and registers the
// first link that comes up. QUIC attempts get half the time when there are TCP addresses to
// fall back on, so that a network that drops UDP costs a few seconds, not the link.
func (t *TCP) dial(ctx context.Context, ref *wire.NodeRef, mode registerMode) error {
	ctx, cancel := context.WithTimeout(ctx, t.limits.HandshakeTimeout)
	defer cancel()
	quicAddrs, tcpAddrs := ref.QUICAddresses(), ref.Addresses()
	if t.quic == nil {
		quicAddrs = nil
	}
	if len(quicAddrs)+len(tcpAddrs) == 0 {
		return fmt.Errorf("connect to %v: its noderef lists no address", ref.ID().Short())
	}
	var errs []error
	// try reports whether a link is up, and whether to give up (the transport closed, or
	// the peer is no longer wanted).
	try := func(ctx context.Context, kind linkKind, addr string) (up, stop bool) {
		var l *link
		var err error
		if kind == overQUIC {
			l, err = t.dialQUIC(ctx, addr, ref)
		} else {
			l, err = t.dialTCP(ctx, addr, ref)
		}
		if err == nil {
			if err = t.register(l, mode); err != nil {
				l.closeConn()
			}
		}
		if err == nil {
			return true, false
		}
		t.log.Debug("dial failed", "peer", ref.ID(), "addr", addr, "over", kind, "err", err)
		errs = append(errs, fmt.Errorf("%v %s: %w", kind, addr, err))
		return false, errors.Is(err, ErrClosed) || errors.Is(err, errNotKept)
	}
	quicCtx := ctx
	if len(tcpAddrs) > 0 && len(quicAddrs) > 0 {
		var cancelQUIC context.CancelFunc
		quicCtx, cancelQUIC = context.WithTimeout(ctx, t.limits.HandshakeTimeout/2)
		defer cancelQUIC()
	}
	attempts := make([]func() (bool, bool), 0, len(quicAddrs)+len(tcpAddrs))
	for _, addr := range quicAddrs {
		attempts = append(attempts, func() (bool, bool) { return try(quicCtx, overQUIC, addr) })
	}
	for _, addr := range tcpAddrs {
		attempts = append(attempts, func() (bool, bool) { return try(ctx, overTCP, addr) })
	}
	for _, attempt := range attempts {
		up, stop := attempt()
		if up {
			return nil
		}
		if stop {
			break
		}
	}
	return fmt.Errorf("connect to %v: %w", ref.ID().Short(), errors.Join(errs...))
}

// dialTCP connects to addr over TCP and runs the handshake.
func (t *TCP) dialTCP(ctx context.Context, addr string, ref *wire.NodeRef) (*link, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	l, err := t.handshake(ctx, c, ref)
	if err != nil {
		c.Close()
	}
	return l, err
}

// handshake runs TLS and the Hello exchange (spec §11.1) on c. want is the noderef dialled,
// nil for an inbound connection.
func (t *TCP) handshake(ctx context.Context, c net.Conn, want *wire.NodeRef) (*link, error) {
	if d, ok := ctx.Deadline(); ok {
		c.SetDeadline(d)
	}
	c = t.bandwidth.Conn(c) // every byte of the link, the handshake's too
	raw := &batchConn{Conn: c}
	var conn *tls.Conn
	if want != nil {
		conn = tls.Client(raw, clientTLSConfig(t.cert, t.rand, want.ID()))
	} else {
		conn = tls.Server(raw, t.serverTLS)
	}
	if err := conn.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	fr := newFrameReader(conn)
	peer, err := t.exchangeHellos(conn.ConnectionState(), conn, fr, want)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Time{})
	var remote netip.AddrPort
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		remote = a.AddrPort()
	}
	lanes := []*lane{newLane(batched{conn, raw}, conn, fr, laneSmall|laneLarge)}
	l := newLink(t, overTCP, lanes, func() { conn.NetConn().Close() }, remote, peer)
	l.tls = conn.ConnectionState()
	return l, nil
}

// exchangeHellos runs the Hello exchange on a link whose TLS handshake cs has completed:
// the dialler (want not nil) speaks first; the listener answers only after checking the
// dialler's Hello, so a refused dialler never sees a link come up. w and fr are the link's
// first lane.
func (t *TCP) exchangeHellos(cs tls.ConnectionState, w io.Writer, fr *frameReader, want *wire.NodeRef) (Peer, error) {
	id, err := peerIdentity(cs)
	if err != nil {
		return Peer{}, err
	}
	if want != nil {
		if err := t.sendHello(w); err != nil {
			return Peer{}, err
		}
	}
	b, _, err := fr.next()
	if err != nil {
		return Peer{}, fmt.Errorf("read Hello: %w", err)
	}
	m, err := wire.Decode(b)
	if err != nil {
		return Peer{}, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	h, ok := m.(*wire.Hello)
	if !ok {
		return Peer{}, protocolError("first message is %v, want Hello", m.Type())
	}
	if h.Ref.ID() != id {
		return Peer{}, fmt.Errorf("%w: the certificate is %v, the noderef %v", ErrIdentityMismatch, id.Short(), h.Ref.ID().Short())
	}
	version := min(h.MaxVersion, wire.MaxVersion)
	if version < max(h.MinVersion, wire.MinVersion) {
		return Peer{}, fmt.Errorf("%w: peer speaks %d to %d, this node %d to %d", ErrVersion, h.MinVersion, h.MaxVersion, wire.MinVersion, wire.MaxVersion)
	}
	peer := Peer{Ref: h.Ref, Outbound: want != nil, Version: version}
	if want == nil && t.accept != nil {
		if err := t.accept(peer); err != nil {
			return Peer{}, fmt.Errorf("%w: %w", ErrRefused, err)
		}
	}
	if want == nil {
		if err := t.sendHello(w); err != nil {
			return Peer{}, err
		}
	}
	return peer, nil
}

func (t *TCP) sendHello(w io.Writer) error {
	hello, err := wire.Encode(&wire.Hello{MinVersion: wire.MinVersion, MaxVersion: wire.MaxVersion, Ref: t.Ref()})
	if err != nil {
		return err
	}
	if _, err := w.Write(appendFrame(nil, kindWhole, hello)); err != nil {
		return fmt.Errorf("send Hello: %w", err)
	}
	return nil
}

// register installs a new link and starts its goroutines. A link to the same peer that is
// already up is replaced, unless both came up at once and the old one wins the tie-break
// (see duplicateGrace); then the new one is closed and register returns nil, since the
// peer is connected.
func (t *TCP) register(l *link, mode registerMode) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return ErrClosed
	}
	if mode == stillKept && t.kept[l.id] == nil {
		t.mu.Unlock()
		return errNotKept
	}
	remember := mode != inbound
	old := t.links[l.id]
	if old != nil && l.since.Sub(old.since) < duplicateGrace && t.dialledBySmaller(old) && !t.dialledBySmaller(l) {
		if remember {
			t.kept[l.id] = l.peer.Ref
		}
		t.mu.Unlock()
		l.closeConn()
		return nil
	}
	t.links[l.id] = l
	if remember {
		t.kept[l.id] = l.peer.Ref
	}
	t.wg.Add(2)
	t.mu.Unlock()
	if old != nil {
		old.close(ErrReplaced)
	}
	t.linkUp(l)
	t.log.Info("link up", "peer", l.id, "outbound", l.peer.Outbound, "over", l.kind)
	go func() {
		defer t.wg.Done()
		l.writeLoops()
	}()
	go func() {
		defer t.wg.Done()
		t.runLink(l, old)
	}()
	return nil
}

// dialledBySmaller reports whether the node that dialled l has the smaller ID of the two.
func (t *TCP) dialledBySmaller(l *link) bool {
	self := t.identity.ID()
	if l.peer.Outbound {
		return string(self[:]) < string(l.id[:])
	}
	return string(l.id[:]) < string(self[:])
}

// runLink is a link's reader goroutine: it delivers PeerUp, the messages and PeerDown, and
// then redials the peer if it is kept.
func (t *TCP) runLink(l *link, old *link) {
	if old != nil {
		<-old.done
	}
	t.handler.PeerUp(l.peer)
	l.close(l.readLoop(t.handler))
	<-l.written
	err := l.err()
	if errors.Is(err, ErrProtocol) || errors.Is(err, ErrFlood) {
		t.log.Warn("peer broke the link limits; disconnected", "peer", l.id, "err", err)
	} else {
		t.log.Info("link down", "peer", l.id, "err", err)
	}
	t.mu.Lock()
	if t.links[l.id] == l {
		delete(t.links, l.id)
	}
	ref := t.kept[l.id]
	redial := ref != nil && t.links[l.id] == nil && !t.redialing[l.id] && !t.closed
	if redial {
		t.redialing[l.id] = true
		t.wg.Add(1)
	}
	t.mu.Unlock()
	t.linkDown(l.id)
	t.handler.PeerDown(l.id, err)
	close(l.done)
	if redial {
		go func() {
			defer t.wg.Done()
			t.redial(l.id)
		}()
	}
}

// redial reconnects a kept peer with a short capped backoff until a link is up again, the
// peer is no longer kept, or the transport closes.
func (t *TCP) redial(id crypto.NodeID) {
	defer func() {
		t.mu.Lock()
		delete(t.redialing, id)
		t.mu.Unlock()
	}()
	wait := redialMin
	for {
		timer := time.NewTimer(jitter(wait))
		select {
		case <-timer.C:
		case <-t.ctx.Done():
			timer.Stop()
			return
		}
		t.mu.Lock()
		ref, up := t.kept[id], t.links[id] != nil
		t.mu.Unlock()
		if ref == nil || up {
			return
		}
		err := t.dial(t.ctx, ref, stillKept)
		if err == nil {
			return
		}
		t.log.Info("redial failed", "peer", id, "retry in", wait, "err", err)
		t.wantPunch(ref) // behind a NAT, the peer may be reached only by punching again
		wait = min(2*wait, redialMax)
	}
}

// jitter spreads d over [d/2, d) so that nodes restarted together do not redial in step.
func jitter(d time.Duration) time.Duration {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(d/2)))
	if err != nil {
		return d
	}
	return d/2 + time.Duration(n.Int64())
}

// Send queues m for the peer to; see Transport.
func (t *TCP) Send(ctx context.Context, to crypto.NodeID, m wire.Message) error {
	t.mu.Lock()
	l := t.links[to]
	t.mu.Unlock()
	if l == nil {
		if _, err := wire.Encode(m); err != nil {
			return err // a bad message is the caller's first problem
		}
		return ErrNotConnected
	}
	b, err := encodeMessage(m)
	if err != nil {
		return err
	}
	if err := l.enqueue(ctx, b); err != nil {
		recycle(b)
		return err
	}
	return nil
}

// Disconnect closes the link to id and stops redialling it.
func (t *TCP) Disconnect(id crypto.NodeID) {
	t.mu.Lock()
	delete(t.kept, id)
	l := t.links[id]
	t.mu.Unlock()
	if l != nil {
		l.close(ErrDisconnected)
	}
}

// Links lists the open links.
func (t *TCP) Links() []LinkStats {
	t.mu.Lock()
	ls := make([]*link, 0, len(t.links))
	for _, l := range t.links {
		ls = append(ls, l)
	}
	t.mu.Unlock()
	out := make([]LinkStats, len(ls))
	for i, l := range ls {
		out[i] = l.stats()
	}
	return out
}

// Close closes the listener and every link, and returns once every goroutine of the
// transport has exited and every PeerDown has been delivered. It is idempotent.
func (t *TCP) Close() error {
	t.mu.Lock()
	first := !t.closed
	t.closed = true
	links := make([]*link, 0, len(t.links))
	for _, l := range t.links {
		links = append(links, l)
	}
	t.mu.Unlock()
	if first {
		t.cancel()
		t.closeListener()
		for _, l := range links {
			l.close(ErrDisconnected)
		}
	}
	t.wg.Wait()
	return nil
}

// discard is the Handler of a transport given none.
type discard struct{}

func (discard) PeerUp(Peer)                         {}
func (discard) Receive(crypto.NodeID, wire.Message) {}
func (discard) PeerDown(crypto.NodeID, error)       {}
