package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// link is one authenticated connection to a peer, TLS over TCP or QUIC, with a reader and a
// writer goroutine for each of its lanes (spec §11.3). Readers decode and deliver; writers
// frame the send queue.
type link struct {
	t         *TCP
	tls       tls.ConnectionState // of the handshake, for tests
	lanes     []*lane
	closeConn func()         // closes the connection, which unblocks every lane
	remote    netip.AddrPort // where the peer's packets come from, as this node sees it
	kind      linkKind
	peer      Peer
	id        crypto.NodeID
	since     time.Time
	maxQueue  int

	closing chan struct{} // closed when the link starts closing
	written chan struct{} // closed when every writer has exited
	done    chan struct{} // closed after PeerDown has returned

	deliver sync.Mutex   // serialises the lanes' deliveries to the handler
	bucket  *tokenBucket // the peer's message rate; guarded by deliver

	mu      sync.Mutex
	queue   sendQueue     // guarded by mu
	space   chan struct{} // closed when the writer takes from the queue; guarded by mu
	closed  bool          // guarded by mu
	downErr error         // why the link closed; guarded by mu

	bytesIn, bytesOut, msgsIn, msgsOut atomic.Uint64
}

// writeBatchBytes is how many bytes of frames a link's writer gathers into one write when
// more are queued (tuning): four large frames, the large frames of two blocks. Small messages
// queued before the batch is taken still go out between its large frames (spec §11.3); one
// queued meanwhile waits for the batch's write.
const writeBatchBytes = 4 * largeFrameSize

// linkKind is what carries a link.
type linkKind uint8

const (
	overTCP linkKind = iota
	overQUIC
)

func (k linkKind) String() string {
	if k == overQUIC {
		return "quic"
	}
	return "tcp"
}

// Which classes of frames a lane carries.
const (
	laneSmall = 1 << iota
	laneLarge
)

// lane is one ordered stream of frames in each direction. A TCP link has one lane for both
// frame classes, scheduled as spec §11.3 says; a QUIC link has a lane for small frames and
// one for large, each a pair of unidirectional streams, so that a request never waits behind
// a block at all (spec §11.2).
type lane struct {
	w       laneWriter
	r       *frameReader
	rd      laneReader
	classes int           // laneSmall, laneLarge or both
	idle    bool          // the lane carries keepalives: nothing arriving on it for IdleTimeout closes the link
	wake    chan struct{} // a message of its classes was queued; capacity 1
}

type laneWriter interface {
	io.Writer
	SetWriteDeadline(time.Time) error
}

type laneReader interface {
	io.Reader
	SetReadDeadline(time.Time) error
}

func newLane(w laneWriter, rd laneReader, fr *frameReader, classes int) *lane {
	if fr == nil {
		fr = newFrameReader(rd)
	}
	return &lane{w: w, r: fr, rd: rd, classes: classes, idle: classes&laneSmall != 0, wake: make(chan struct{}, 1)}
}

func newLink(t *TCP, kind linkKind, lanes []*lane, closeConn func(), remote netip.AddrPort, peer Peer) *link {
	return &link{
		t:         t,
		lanes:     lanes,
		closeConn: closeConn,
		remote:    remote,
		kind:      kind,
		peer:      peer,
		id:        peer.Ref.ID(),
		since:     time.Now(),
		maxQueue:  t.limits.MaxQueuedBytes,
		closing:   make(chan struct{}),
		written:   make(chan struct{}),
		done:      make(chan struct{}),
		bucket:    newTokenBucket(t.limits.MessagesPerSecond, t.limits.MessageBurst, time.Now()),
	}
}

// enqueue adds an encoded message to the send queue, waiting for room while ctx allows.
func (l *link) enqueue(ctx context.Context, b []byte) error {
	if err := l.enqueueUncounted(ctx, b); err != nil {
		return err
	}
	l.msgsOut.Add(1)
	return nil
}

// enqueueUncounted is enqueue for the transport's own messages, which, like keepalives, the
// link's counters leave out.
func (l *link) enqueueUncounted(ctx context.Context, b []byte) error {
	for {
		l.mu.Lock()
		if l.closed {
			err := l.downErr
			l.mu.Unlock()
			return fmt.Errorf("%w: %w", ErrNotConnected, err)
		}
		if l.queue.fits(len(b), l.maxQueue) {
			l.queue.push(b)
			l.mu.Unlock()
			l.signal()
			return nil
		}
		if l.space == nil {
			l.space = make(chan struct{})
		}
		space := l.space
		l.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: %w", ErrQueueFull, err)
		}
		select {
		case <-space:
		case <-l.closing:
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrQueueFull, ctx.Err())
		}
	}
}

func (l *link) signal() {
	for _, ln := range l.lanes {
		select {
		case ln.wake <- struct{}{}:
		default:
		}
	}
}

// close starts closing the link for reason err; the first reason sticks. Closing the socket
// unblocks both goroutines, without the close-notify alert a blocked peer might never read.
func (l *link) close(err error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.downErr = err
	if l.space != nil {
		close(l.space)
		l.space = nil
	}
	l.mu.Unlock()
	close(l.closing)
	l.closeConn()
}

func (l *link) err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.downErr
}

// writeLoops runs a writer for each lane and returns when all have exited.
func (l *link) writeLoops() {
	defer close(l.written)
	var wg sync.WaitGroup
	for _, ln := range l.lanes[1:] {
		wg.Go(func() { l.writeLoop(ln) })
	}
	l.writeLoop(l.lanes[0])
	wg.Wait()
}

// writeLoop frames the lane's part of the send queue onto it until the link closes. The lane
// that carries small frames sends a keepalive when nothing else has gone out on it for a
// keepalive interval.
func (l *link) writeLoop(ln *lane) {
	lim := l.t.limits
	tick := time.NewTicker(lim.KeepaliveInterval / 2)
	defer tick.Stop()
	lastWrite := time.Now()
	var buf []byte
	for {
		l.mu.Lock()
		before := l.queue.bytes
		buf = l.queue.next(buf[:0], writeBatchBytes, ln.classes)
		// Wake waiting senders once the queue is down to half, not after every frame, so
		// that a sender filling the queue sleeps and wakes once per batch.
		if l.space != nil && l.queue.bytes < before && l.queue.bytes <= l.maxQueue/2 {
			close(l.space)
			l.space = nil
		}
		l.mu.Unlock()
		if len(buf) > 0 {
			now := time.Now()
			ln.w.SetWriteDeadline(now.Add(lim.IdleTimeout))
			l.bytesOut.Add(uint64(len(buf)))
			if _, err := ln.w.Write(buf); err != nil {
				l.close(linkError(err, "write"))
				return
			}
			lastWrite = now
			continue
		}
		select {
		case <-ln.wake:
		case <-l.closing:
			return
		case now := <-tick.C:
			if ln.idle && now.Sub(lastWrite) >= lim.KeepaliveInterval {
				l.mu.Lock()
				l.queue.push(keepaliveBytes)
				l.mu.Unlock()
			}
		}
	}
}

var keepaliveBytes = []byte{byte(wire.TypeKeepalive)}

// readLoop delivers the peer's messages until the link fails, reading every lane, and
// returns why it failed. The per-peer limits are enforced before decoding: frame sizes in the
// frame readers, then the message rate.
func (l *link) readLoop(h Handler) error {
	if len(l.lanes) == 1 {
		return l.readLane(l.lanes[0], h)
	}
	errs := make(chan error, len(l.lanes)-1)
	for _, ln := range l.lanes[1:] {
		go func() {
			err := l.readLane(ln, h)
			l.close(err) // ends the other lanes too
			errs <- err
		}()
	}
	err := l.readLane(l.lanes[0], h)
	l.close(err)
	for range len(l.lanes) - 1 {
		<-errs
	}
	return err
}

// readLane reads one lane's frames and delivers its messages.
func (l *link) readLane(ln *lane, h Handler) error {
	lim := l.t.limits
	var deadlineSet time.Time
	for {
		// Moving the deadline costs a timer update; doing it every few messages is enough
		// to cut a silent peer within IdleTimeout plus a quarter.
		if now := time.Now(); ln.idle && now.Sub(deadlineSet) > lim.IdleTimeout/4 {
			ln.rd.SetReadDeadline(now.Add(lim.IdleTimeout))
			deadlineSet = now
		}
		before := ln.r.bytes
		b, buf, err := ln.r.next()
		l.bytesIn.Add(ln.r.bytes - before)
		if err != nil {
			return linkError(err, "read")
		}
		if err := l.receive(b, buf, h); err != nil {
			return err
		}
	}
}

// receive checks the peer's rate, decodes one message and delivers it, or consumes it if it
// is the transport's own. The lanes' deliveries take turns, so the handler sees one message
// of a peer at a time, as Handler promises. buf, if not nil, is the buffer b was reassembled
// in (frameReader.next): the message is decoded in place, and a Borrower is lent the buffer
// with it.
func (l *link) receive(b []byte, buf *[wire.MaxMessageSize]byte, h Handler) error {
	l.deliver.Lock()
	defer l.deliver.Unlock()
	if !l.bucket.take(time.Now()) {
		return fmt.Errorf("%w: more than %v messages a second", ErrFlood, l.t.limits.MessagesPerSecond)
	}
	var m wire.Message
	var err error
	if buf != nil {
		m, err = wire.DecodeShared(b) // the reassembled buffer becomes the message's
	} else {
		m, err = wire.Decode(b)
	}
	if err != nil {
		if buf != nil {
			bigBuffers.Put(buf) // nothing refers to it
		}
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	switch m := m.(type) {
	case *wire.Keepalive:
		return nil
	case *wire.Hello:
		return protocolError("a second Hello")
	case *wire.ObservedAddress, *wire.NodeRefUpdate, *wire.PunchRequest, *wire.PunchIntro:
		return l.t.linkMessage(l, m)
	}
	l.msgsIn.Add(1)
	if bh, ok := h.(Borrower); ok && buf != nil {
		bh.ReceiveLent(l.id, m, func() { bigBuffers.Put(buf) })
		return nil
	}
	h.Receive(l.id, m)
	return nil
}

// linkError names what a socket or stream error means for the link.
func linkError(err error, op string) error {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%w: %s: %w", ErrIdle, op, err)
	case errors.Is(err, ErrProtocol):
		return err
	case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || closedByPeer(err):
		return fmt.Errorf("%w: %w", ErrPeerClosed, err)
	}
	return fmt.Errorf("link %s: %w", op, err)
}

func (l *link) stats() LinkStats {
	l.mu.Lock()
	queued := l.queue.bytes
	l.mu.Unlock()
	return LinkStats{
		ID:          l.id,
		Outbound:    l.peer.Outbound,
		Kind:        l.kind.String(),
		Remote:      l.remote,
		Since:       l.since,
		BytesIn:     l.bytesIn.Load(),
		BytesOut:    l.bytesOut.Load(),
		MessagesIn:  l.msgsIn.Load(),
		MessagesOut: l.msgsOut.Load(),
		Queued:      queued,
	}
}

// tokenBucket limits a peer's message rate: it holds up to burst tokens, refilled at rate
// per second, and each message takes one.
type tokenBucket struct {
	rate, tokens, burst float64
	last                time.Time
}

func newTokenBucket(rate float64, burst int, now time.Time) *tokenBucket {
	return &tokenBucket{rate: rate, tokens: float64(burst), burst: float64(burst), last: now}
}

func (b *tokenBucket) take(now time.Time) bool {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
