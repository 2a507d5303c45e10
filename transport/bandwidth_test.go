package transport

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// loopbackPair is a TCP connection over 127.0.0.1: both ends.
func loopbackPair(t *testing.T) (a, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b = <-accepted
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// TestBandwidthHoldsTheRates: 2 MiB written through a link limited to 1 MiB/s up take at
// least the time the rate allows (less the bucket's burst), and 2 MiB read through one
// limited to 2 MiB/s down likewise; every byte is counted.
func TestBandwidthHoldsTheRates(t *testing.T) {
	const size = 2 << 20
	for _, tc := range []struct {
		name   string
		limits BandwidthLimits
		rate   int64
		up     bool
	}{
		{"upload 1 MiB/s", BandwidthLimits{Upload: 1 << 20}, 1 << 20, true},
		{"download 2 MiB/s", BandwidthLimits{Download: 2 << 20}, 2 << 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bw := NewBandwidth(tc.limits, nil)
			a, b := loopbackPair(t)
			w, r := a, b
			if tc.up {
				w = bw.Conn(a)
			} else {
				r = bw.Conn(b)
			}
			start := time.Now()
			var wg sync.WaitGroup
			wg.Go(func() { w.Write(make([]byte, size)); w.Close() })
			n, err := io.Copy(io.Discard, r)
			wg.Wait()
			took := time.Since(start)
			if err != nil || n != size {
				t.Fatalf("read %d bytes, %v", n, err)
			}
			burst := max(int64(chunk), tc.rate/10)
			least := time.Duration(float64(size-burst-chunk) / float64(tc.rate) * float64(time.Second))
			if took < least {
				t.Errorf("%d bytes in %v: faster than %d B/s allows (at least %v)", size, took, tc.rate, least)
			}
			u := bw.Usage()
			if moved := map[bool]int64{true: u.Sent, false: u.Received}[tc.up]; moved != size || u.MonthUsed != size {
				t.Errorf("usage %+v, want %d bytes counted", u, size)
			}
			t.Logf("%d bytes in %v: %.0f B/s under a limit of %d B/s", size, took, float64(size)/took.Seconds(), tc.rate)
		})
	}
}

// TestBandwidthMonthlyCap: past the monthly cap the links run at CappedRate and the usage
// says so; a new month starts a new count at the full rate; a raised cap lifts the state.
func TestBandwidthMonthlyCap(t *testing.T) {
	now := time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC)
	bw := NewBandwidth(BandwidthLimits{Upload: 1 << 20, Monthly: 100 << 10}, func() time.Time { return now })
	a, b := loopbackPair(t)
	go io.Copy(io.Discard, b)
	w := bw.Conn(a)
	if _, err := w.Write(make([]byte, 100<<10)); err != nil {
		t.Fatal(err)
	}
	u := bw.Usage()
	if !u.CapReached || u.Month != "2026-12" || u.MonthUsed != 100<<10 {
		t.Fatalf("after the cap: %+v", u)
	}
	if got := bw.up.Limit(); got != CappedRate {
		t.Errorf("capped upload rate %v, want %d", got, CappedRate)
	}
	now = now.Add(2 * time.Hour) // January
	if u := bw.Usage(); u.CapReached || u.Month != "2027-01" || u.MonthUsed != 0 || bw.up.Limit() != 1<<20 {
		t.Errorf("in the new month: %+v, rate %v", u, bw.up.Limit())
	}
	bw.SetLimits(BandwidthLimits{Upload: 512 << 10})
	if got := bw.up.Limit(); got != 512<<10 {
		t.Errorf("upload rate %v after SetLimits, want %d", got, 512<<10)
	}
}

// TestBandwidthWritesWhole: without an upload rate, a write reaches the connection whole, so
// that a link's batch of TLS records goes to the kernel in one system call; with a rate, in
// 16 KiB pieces, each waiting for the bucket. Every byte is counted either way.
func TestBandwidthWritesWhole(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits BandwidthLimits
		writes int
	}{
		{"no rate", BandwidthLimits{}, 1},
		{"a monthly cap alone", BandwidthLimits{Monthly: 1 << 30}, 1},
		{"a download rate alone", BandwidthLimits{Download: 1 << 20}, 1},
		{"an upload rate", BandwidthLimits{Upload: 64 << 20}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bw := NewBandwidth(tc.limits, nil)
			c := &writeCounter{}
			if _, err := bw.Conn(c).Write(make([]byte, 4*chunk)); err != nil {
				t.Fatal(err)
			}
			if c.writes != tc.writes || c.bytes != 4*chunk || bw.Usage().Sent != 4*chunk {
				t.Errorf("%d bytes went in %d writes, %d counted; want %d writes", c.bytes, c.writes, bw.Usage().Sent, tc.writes)
			}
		})
	}
}

// writeCounter is a connection that counts the writes made to it.
type writeCounter struct {
	net.Conn
	writes, bytes int
}

func (c *writeCounter) Write(p []byte) (int, error) {
	c.writes++
	c.bytes += len(p)
	return len(p), nil
}

// TestNilBandwidth: a node without limits passes its connections through untouched.
func TestNilBandwidth(t *testing.T) {
	var bw *Bandwidth
	a, _ := loopbackPair(t)
	if bw.Conn(a) != a {
		t.Error("a nil Bandwidth wrapped the connection")
	}
}

// TestBandwidthLimitsLinks: a node limited to 1 MiB/s up and 2 MiB/s down sends and receives
// blocks as fast as its links let it, over TCP and over QUIC; what the receiving end read off
// its socket since the limit was set stays within it, and over the measured seconds reaches
// most of it. Over QUIC the limited node counts every datagram both ways, as its peer's socket
// does: the two counts agree, and exceed the link's frames by what QUIC adds (headers,
// acknowledgements).
func TestBandwidthLimitsLinks(t *testing.T) {
	const warmUp, measure = time.Second, 3 * time.Second
	for _, tc := range []struct {
		name   string
		quic   bool
		limits BandwidthLimits
		up     bool
	}{
		{"tcp upload 1 MiB/s", false, BandwidthLimits{Upload: 1 << 20}, true},
		{"tcp download 2 MiB/s", false, BandwidthLimits{Download: 2 << 20}, false},
		{"quic upload 1 MiB/s", true, BandwidthLimits{Upload: 1 << 20}, true},
		{"quic download 2 MiB/s", true, BandwidthLimits{Download: 2 << 20}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			made := time.Now()
			limited, meter := NewBandwidth(tc.limits, nil), NewBandwidth(BandwidthLimits{}, nil)
			a := newTCPNode(t, "limited", nodeOptions{quic: tc.quic, limits: benchLimits, bandwidth: limited})
			b := newTCPNode(t, "peer", nodeOptions{quic: tc.quic, limits: benchLimits, bandwidth: meter})
			if err := a.Connect(ctxTimeout(t, 10*time.Second), b.ref); err != nil {
				t.Fatal(err)
			}
			if got := a.Links()[0].Kind; (got == "quic") != tc.quic {
				t.Fatalf("link over %s", got)
			}
			from, to, rate := a, b, tc.limits.Upload
			if !tc.up {
				from, to, rate = b, a, tc.limits.Download
			}
			// The sender keeps its link's queue full until the test ends.
			ctx, stop := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Go(func() {
				m := &wire.DataReply{KeyType: crypto.CHK, Block: chkBlock("limited")}
				for ctx.Err() == nil {
					from.Send(ctx, to.id, m)
				}
			})
			defer func() { stop(); wg.Wait() }()
			type counts struct {
				limited, peer Usage
				// frames is what the receiving end's link has read of the limited
				// direction since it opened. It is taken before the datagram counts: a
				// frame read by then came in datagrams counted by then.
				frames uint64
			}
			take := func() counts {
				var c counts
				c.frames = to.Links()[0].BytesIn
				c.limited, c.peer = limited.Usage(), meter.Usage()
				return c
			}
			time.Sleep(warmUp)
			c0, start := take(), time.Now()
			time.Sleep(measure)
			c1, took, sinceMade := take(), time.Since(start), time.Since(made)
			// moved is what the receiving end read off its socket, counted what the sending
			// end counted sent, back what came the other way.
			moved, counted := c1.peer.Received-c0.peer.Received, c1.limited.Sent-c0.limited.Sent
			back := c1.limited.Received - c0.limited.Received
			if !tc.up {
				moved, counted = c1.limited.Received-c0.limited.Received, c1.peer.Sent-c0.peer.Sent
				back = c1.peer.Received - c0.peer.Received
			}
			frames := int64(c1.frames - c0.frames)
			// received is every byte the receiving end counted since the link opened.
			received := c1.peer.Received
			if !tc.up {
				received = c1.limited.Received
			}
			got := float64(moved) / took.Seconds()
			t.Logf("%d bytes in %v: %.0f B/s under a limit of %d B/s (%.1f%%); sent %d; %d bytes of frames (%.1f%% added); %d bytes back",
				moved, took.Round(time.Millisecond), got, rate, 100*got/float64(rate), counted, frames,
				100*float64(moved-frames)/float64(frames), back)
			// The bound is checked on the counts since the limiter was made, not over the
			// window: the receiving end may be slow to read on a busy machine, and then
			// catches up within the window on bytes the bucket let through before it
			// (104.7% of the rate over three seconds once, under a limit held exactly).
			// Since it was made the bucket has let through at most its burst and the rate
			// for the time gone by; a chunk per lane may be on its way.
			most := float64(rate)*sinceMade.Seconds() + float64(max(chunk, rate/10)) + 2*chunk
			if tc.quic && !tc.up {
				// The limited node holds back its reading, and so its peer through flow
				// control: what the link read is held to the rate itself.
				if float64(c1.frames) > most {
					t.Errorf("%d bytes of frames read in %v: more than %d B/s allows (%.0f)", c1.frames, sinceMade, rate, most)
				}
				// The datagrams are not: a QUIC peer sends what flow control allows in
				// bursts, and the receive window it allows grows up to its largest when a
				// busy machine's round trips look long, so the datagrams may run ahead of
				// the reading by up to that window.
				most += quicConnectionWindow
			}
			if float64(received) > most {
				t.Errorf("%d bytes crossed in %v: more than %d B/s allows (%.0f)", received, sinceMade, rate, most)
			}
			// Loopback carries far more than the limit: a link held well below it would be
			// the limiter's fault, though a busy machine may slow the sender somewhat. Under
			// the race detector QUIC may carry less than the limit itself (2 MB/s measured
			// at load 19), so only TCP is held to it there.
			if (!tc.quic || !raceEnabled) && got < 0.7*float64(rate) {
				t.Errorf("%.0f B/s crossed under a limit of %d B/s: the link was held below it", got, rate)
			}
			if !tc.quic {
				// A TCP sender's count runs ahead of the receiver's by what waits in the
				// kernel's buffers; the bytes on the wire lie between.
				return
			}
			// Datagrams are counted as they leave and as they are read. Within a window the
			// two ends differ by what waits in the receiver's socket buffer (megabytes on a
			// busy machine), so they are compared once the sender has stopped and the
			// counts have settled: then both ends agree but for datagrams lost on loopback.
			stop()
			wg.Wait()
			settled := settle(t, func() [2]Usage { return [2]Usage{limited.Usage(), meter.Usage()} })
			near := func(x, y int64) bool { return float64(max(x-y, y-x)) <= 0.01*float64(max(x, y))+16<<10 }
			l, p := settled[0], settled[1]
			if !near(l.Sent, p.Received) || !near(p.Sent, l.Received) {
				t.Errorf("the limited node counted %d bytes sent and the peer %d received; the other way %d and %d",
					l.Sent, p.Received, p.Sent, l.Received)
			}
			// Over a window the two counts may differ either way by what was in flight at
			// its edges; since the link opened, the datagrams hold every frame read and
			// QUIC's headers besides.
			if received <= int64(c1.frames) || back == 0 {
				t.Errorf("%d bytes counted since the link opened for %d of frames read, %d the other way in the window: QUIC's own bytes are not counted",
					received, c1.frames, back)
			}
		})
	}
}

// settle returns what read gives once it has stayed the same for a while: the counts of links
// whose senders have stopped, after the last datagrams and acknowledgements are in.
func settle[T comparable](t *testing.T, read func() T) T {
	t.Helper()
	last, since := read(), time.Now()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		if now := read(); now != last {
			last, since = now, time.Now()
		} else if time.Since(since) >= 500*time.Millisecond {
			return last
		}
	}
	t.Fatalf("the counts did not settle in 20s: %+v", last)
	return last
}
