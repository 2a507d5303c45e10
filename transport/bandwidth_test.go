package transport

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
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

// TestNilBandwidth: a node without limits passes its connections through untouched.
func TestNilBandwidth(t *testing.T) {
	var bw *Bandwidth
	a, _ := loopbackPair(t)
	if bw.Conn(a) != a {
		t.Error("a nil Bandwidth wrapped the connection")
	}
}
