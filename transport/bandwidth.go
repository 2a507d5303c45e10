package transport

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Bandwidth limits what a node's links send and receive, all of them together, relayed
// traffic and the node's own alike (spec §11.6): an upload and a download rate, each a token
// bucket, and a monthly cap on the two together. TCP links wrap their connection with Conn,
// below TLS. QUIC links are counted where QUIC meets the network, every datagram of the UDP
// socket (PacketConn), so that QUIC's acknowledgements, retransmissions, handshakes and
// probes count; their streams only wait while a bucket is in debt (gatedReader,
// gatedWriter). The limits change at run time with SetLimits. A nil *Bandwidth limits
// nothing.
type Bandwidth struct {
	up, down *rate.Limiter

	mu     sync.Mutex // guards the fields below
	limits BandwidthLimits
	month  string // "2026-12": the month used counts
	// monthFrom and monthTo bound month, so that the clock is checked against it without
	// formatting a date at every read and write
	monthFrom, monthTo time.Time
	used               int64 // bytes sent and received in month
	capped             bool  // the monthly cap is reached: the links run at CappedRate
	now                func() time.Time
	sent               atomic.Int64
	receive            atomic.Int64
}

// BandwidthLimits are a node's bandwidth settings; zero is no limit.
type BandwidthLimits struct {
	Upload, Download int64 // bytes per second
	Monthly          int64 // bytes sent and received together in a calendar month (UTC)
}

// CappedRate is the rate each direction keeps once the monthly cap is reached: enough for
// the links' keep-alives and a trickle of requests, so that peers do not drop the node.
const CappedRate = 1 << 10

// chunk is the most a Read or Write moves per bucket wait while the bucket has a rate; the
// buckets' burst is at least this, and a waiting link holds at most one chunk of the bucket.
// Without a rate a Read or Write moves what it is given in one call, so that a link's batch
// of TLS records goes to the kernel in one system call.
const chunk = 16 << 10

// most is how much of n bytes one Read or Write through l may move.
func most(l *rate.Limiter, n int) int {
	if l.Limit() == rate.Inf {
		return n
	}
	return min(n, chunk)
}

// NewBandwidth makes a limiter with the given limits; now is the clock (time.Now if nil).
func NewBandwidth(l BandwidthLimits, now func() time.Time) *Bandwidth {
	if now == nil {
		now = time.Now
	}
	b := &Bandwidth{up: rate.NewLimiter(rate.Inf, chunk), down: rate.NewLimiter(rate.Inf, chunk), now: now}
	b.SetLimits(l)
	return b
}

// SetLimits changes the limits; links already open follow them at once.
func (b *Bandwidth) SetLimits(l BandwidthLimits) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.limits = l
	b.applyLocked()
}

// applyLocked sets the buckets from the limits and the cap's state.
func (b *Bandwidth) applyLocked() {
	b.capped = b.limits.Monthly > 0 && b.used >= b.limits.Monthly
	set := func(l *rate.Limiter, perSecond int64) {
		r := rate.Inf
		if perSecond > 0 {
			r = rate.Limit(perSecond)
		}
		if b.capped && (r == rate.Inf || r > CappedRate) {
			r = CappedRate
		}
		// The burst is a tenth of a second of the rate, at least a chunk: what a link may
		// send at once after a pause.
		burst := max(chunk, int(perSecond/10))
		if r != l.Limit() || burst != l.Burst() {
			l.SetLimit(r)
			l.SetBurst(burst)
		}
	}
	set(b.up, b.limits.Upload)
	set(b.down, b.limits.Download)
}

// Usage is what the links moved since the node started and in the current month.
type Usage struct {
	Sent, Received int64
	Month          string // "2026-12"
	MonthUsed      int64  // bytes sent and received in Month
	CapReached     bool   // the monthly cap is reached: the links run at CappedRate
	Limits         BandwidthLimits
}

// Usage returns the figures.
func (b *Bandwidth) Usage() Usage {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rollLocked()
	return Usage{Sent: b.sent.Load(), Received: b.receive.Load(), Month: b.month, MonthUsed: b.used,
		CapReached: b.capped, Limits: b.limits}
}

// rollLocked starts a new month's count when the month changed.
func (b *Bandwidth) rollLocked() {
	now := b.now().UTC()
	if !now.Before(b.monthFrom) && now.Before(b.monthTo) {
		return
	}
	b.monthFrom = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	b.monthTo = b.monthFrom.AddDate(0, 1, 0)
	if m := b.monthFrom.Format("2006-01"); m != b.month {
		b.month, b.used = m, 0
		b.applyLocked()
	}
}

// count adds n bytes to the month and notes the cap.
func (b *Bandwidth) count(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rollLocked()
	b.used += int64(n)
	if !b.capped && b.limits.Monthly > 0 && b.used >= b.limits.Monthly {
		b.applyLocked()
	}
}

// Conn wraps c so that what it reads and writes waits for the buckets and is counted.
func (b *Bandwidth) Conn(c net.Conn) net.Conn {
	if b == nil {
		return c
	}
	return &limitedConn{Conn: c, b: b}
}

type limitedConn struct {
	net.Conn
	b *Bandwidth
}

func (c *limitedConn) Read(p []byte) (int, error)  { return c.b.read(c.Conn, p, true) }
func (c *limitedConn) Write(p []byte) (int, error) { return c.b.write(c.Conn, p, true) }

// read reads from r (at most a chunk while the bucket has a rate), then waits for the download
// bucket: with charge, until it covers the bytes read, which are counted here (a TCP
// connection); without, until it is out of the debt the counting elsewhere put it in (a QUIC
// stream, whose packets the socket counted). The bytes are already here, but the next read
// waits, so the sender is held back by the transport's flow control.
func (b *Bandwidth) read(r io.Reader, p []byte, charge bool) (int, error) {
	n, err := r.Read(p[:most(b.down, len(p))])
	if n > 0 {
		cost := 0
		if charge {
			b.received(n)
			cost = n
		}
		b.down.WaitN(context.Background(), cost)
	}
	return n, err
}

// write waits for the upload bucket before each chunk it writes to w: with charge, until the
// bucket covers the chunk, which is counted here; without, until the bucket is out of debt.
func (b *Bandwidth) write(w io.Writer, p []byte, charge bool) (int, error) {
	written := 0
	for written < len(p) {
		n := most(b.up, len(p)-written)
		cost := 0
		if charge {
			cost = n
		}
		b.up.WaitN(context.Background(), cost)
		m, err := w.Write(p[written : written+n])
		written += m
		if charge {
			b.sentBytes(m)
		}
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

func (b *Bandwidth) sentBytes(n int) {
	b.sent.Add(int64(n))
	b.count(n)
}

func (b *Bandwidth) received(n int) {
	b.receive.Add(int64(n))
	b.count(n)
}

// maxDebt is how far, in seconds of its rate, counting that does not wait (QUIC's datagrams)
// may take a bucket below empty. Beyond it bytes are still counted but not charged, so that
// a flood of datagrams at the node's port, which it cannot refuse to receive, stalls its
// links for at most about a second after the flood ends.
const maxDebt = 1.0

// owe takes n bytes from the bucket without waiting: they have already gone or come. The
// links that wait for the bucket (gatedReader, gatedWriter) then wait until it is paid.
func owe(l *rate.Limiter, n int) {
	r := l.Limit()
	if r == rate.Inf {
		return
	}
	now := time.Now()
	if l.TokensAt(now) < -maxDebt*float64(r) {
		return
	}
	// A reservation may be at most the burst; a GSO write of several datagrams is more.
	for burst := l.Burst(); n > 0; n -= burst {
		l.ReserveN(now, min(n, burst))
	}
}

// gatedReader and gatedWriter are one direction of a QUIC stream: each chunk waits while the
// bucket is in debt, and the bytes are counted and charged by the socket (PacketConn).
type gatedReader struct {
	laneReader
	b *Bandwidth
}

func (r gatedReader) Read(p []byte) (int, error) { return r.b.read(r.laneReader, p, false) }

type gatedWriter struct {
	laneWriter
	b *Bandwidth
}

func (w gatedWriter) Write(p []byte) (int, error) { return w.b.write(w.laneWriter, p, false) }

// gateReader returns r gated by the download bucket, or r itself without a Bandwidth.
func (b *Bandwidth) gateReader(r laneReader) laneReader {
	if b == nil {
		return r
	}
	return gatedReader{r, b}
}

// gateWriter returns w gated by the upload bucket, or w itself without a Bandwidth.
func (b *Bandwidth) gateWriter(w laneWriter) laneWriter {
	if b == nil {
		return w
	}
	return gatedWriter{w, b}
}
