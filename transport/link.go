package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// link is one authenticated TLS connection to a peer, with its reader and writer goroutines
// (spec §11.3). The reader decodes and delivers; the writer frames the send queue.
type link struct {
	t        *TCP
	conn     *tls.Conn
	peer     Peer
	id       crypto.NodeID
	since    time.Time
	frames   *frameReader
	maxQueue int

	wake    chan struct{} // a message was queued; capacity 1
	closing chan struct{} // closed when the link starts closing
	written chan struct{} // closed when the writer has exited
	done    chan struct{} // closed after PeerDown has returned

	mu      sync.Mutex
	queue   sendQueue     // guarded by mu
	space   chan struct{} // closed when the writer takes from the queue; guarded by mu
	closed  bool          // guarded by mu
	downErr error         // why the link closed; guarded by mu

	bytesIn, bytesOut, msgsIn, msgsOut atomic.Uint64
}

func newLink(t *TCP, conn *tls.Conn, fr *frameReader, peer Peer) *link {
	return &link{
		t:        t,
		conn:     conn,
		peer:     peer,
		id:       peer.Ref.ID(),
		since:    time.Now(),
		frames:   fr,
		maxQueue: t.limits.MaxQueuedBytes,
		wake:     make(chan struct{}, 1),
		closing:  make(chan struct{}),
		written:  make(chan struct{}),
		done:     make(chan struct{}),
	}
}

// enqueue adds an encoded message to the send queue, waiting for room while ctx allows.
func (l *link) enqueue(ctx context.Context, b []byte) error {
	for {
		l.mu.Lock()
		if l.closed {
			err := l.downErr
			l.mu.Unlock()
			return fmt.Errorf("%w: %w", ErrNotConnected, err)
		}
		// A message always fits an empty queue, whatever its size.
		if l.queue.bytes == 0 || l.queue.bytes+len(b) <= l.maxQueue {
			l.queue.push(b)
			l.mu.Unlock()
			l.msgsOut.Add(1)
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
	select {
	case l.wake <- struct{}{}:
	default:
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
	l.conn.NetConn().Close()
}

func (l *link) err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.downErr
}

// writeLoop frames the send queue onto the connection until the link closes, and sends a
// keepalive when nothing else has gone out for a keepalive interval.
func (l *link) writeLoop() {
	defer close(l.written)
	lim := l.t.limits
	tick := time.NewTicker(lim.KeepaliveInterval / 2)
	defer tick.Stop()
	lastWrite := time.Now()
	var buf []byte
	for {
		l.mu.Lock()
		before := l.queue.bytes
		buf = l.queue.next(buf[:0], largeFrameSize)
		// Wake waiting senders once the queue is down to half, not after every frame, so
		// that a sender filling the queue sleeps and wakes once per batch.
		if l.space != nil && l.queue.bytes < before && l.queue.bytes <= l.maxQueue/2 {
			close(l.space)
			l.space = nil
		}
		l.mu.Unlock()
		if len(buf) > 0 {
			now := time.Now()
			l.conn.SetWriteDeadline(now.Add(lim.IdleTimeout))
			l.bytesOut.Add(uint64(len(buf)))
			if _, err := l.conn.Write(buf); err != nil {
				l.close(linkError(err, "write"))
				return
			}
			lastWrite = now
			continue
		}
		select {
		case <-l.wake:
		case <-l.closing:
			return
		case now := <-tick.C:
			if now.Sub(lastWrite) >= lim.KeepaliveInterval {
				l.mu.Lock()
				l.queue.push(keepaliveBytes)
				l.mu.Unlock()
			}
		}
	}
}

var keepaliveBytes = []byte{byte(wire.TypeKeepalive)}

// readLoop delivers the peer's messages until the link fails, enforcing the per-peer limits
// before decoding: frame sizes in the frame reader, then the message rate.
func (l *link) readLoop(h Handler) error {
	lim := l.t.limits
	bucket := newTokenBucket(lim.MessagesPerSecond, lim.MessageBurst, time.Now())
	var deadlineSet time.Time
	for {
		// Moving the deadline costs a timer update; doing it every few messages is enough
		// to cut a silent peer within IdleTimeout plus a quarter.
		if now := time.Now(); now.Sub(deadlineSet) > lim.IdleTimeout/4 {
			l.conn.SetReadDeadline(now.Add(lim.IdleTimeout))
			deadlineSet = now
		}
		before := l.frames.bytes
		b, owned, err := l.frames.next()
		l.bytesIn.Add(l.frames.bytes - before)
		if err != nil {
			return linkError(err, "read")
		}
		if !bucket.take(time.Now()) {
			return fmt.Errorf("%w: more than %v messages a second", ErrFlood, lim.MessagesPerSecond)
		}
		var m wire.Message
		if owned {
			m, err = wire.DecodeShared(b) // the reassembled buffer becomes the message's
		} else {
			m, err = wire.Decode(b)
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		switch m.(type) {
		case *wire.Keepalive:
			continue
		case *wire.Hello:
			return protocolError("a second Hello")
		}
		l.msgsIn.Add(1)
		h.Receive(l.id, m)
	}
}

// linkError names what a socket error means for the link.
func linkError(err error, op string) error {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%w: %s: %w", ErrIdle, op, err)
	case errors.Is(err, ErrProtocol):
		return err
	case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET):
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
