package fetch

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"lethe/crypto"
)

// path is a simulated path for the window: requests are served one after another at rate
// blocks a second (rate 0: at once), and each answer comes latency after its service, so
// that the path holds rate·latency requests (its bandwidth-delay product) before requests
// start to queue. It runs on a clock of its own; no test waits.
type path struct {
	rate    float64
	latency time.Duration
	demand  int // requests the fetch has to make at once; 0: always more than the window
	local   int // if set, all but every local-th request is answered at once (the node's own store)
}

// run drives a window control over the path for d and returns the control and the rate of
// answers over the last quarter of d.
func (p path) run(t *testing.T, c *windowControl, d time.Duration, fail func(n int) bool) (*windowControl, float64) {
	t.Helper()
	start := time.Unix(0, 0)
	now := start
	var free time.Time // when the path's server is next free
	type request struct{ sent, at time.Time }
	var inflight []request
	var near []request // answered at once
	count, lateFrom := 0, start.Add(d*3/4)
	for n := 0; now.Before(start.Add(d)); n++ {
		for asked := 0; len(inflight)+len(near) < c.limit() && (p.demand == 0 || len(inflight)+len(near) < p.demand); asked++ {
			if p.local > 0 && (n+asked)%p.local != 0 {
				near = append(near, request{now, now})
				continue
			}
			at := now.Add(p.latency)
			if p.rate > 0 {
				free = later(now, free).Add(time.Duration(float64(time.Second) / p.rate))
				at = free.Add(p.latency)
			}
			inflight = append(inflight, request{now, at})
		}
		var r request
		if len(near) > 0 {
			r, near = near[0], near[1:]
		} else {
			r = inflight[0] // answers come in the order sent: the path is a queue and a delay
			inflight = inflight[1:]
		}
		now = r.at
		o := answered
		if fail != nil && fail(n) {
			o = congested
		}
		c.answer(now, o, now.Sub(r.sent), p.demand == 0 || p.demand > c.limit())
		if !now.Before(lateFrom) {
			count++
		}
	}
	return c, float64(count) / (d / 4).Seconds()
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func TestWindowGrowsToThePath(t *testing.T) {
	tests := []struct {
		name     string
		p        path
		min, max int // where the window must end
		minRate  float64
	}{
		// A path with no bandwidth limit and a long delay: the window grows to its bound,
		// as only more requests in flight bring more blocks.
		{"long fat path", path{latency: 2 * time.Second}, 256, 256, 120},
		// 200 blocks a second over 0.3 s: a bandwidth-delay product of 60 requests. The
		// window carries the path's rate without growing past about twice the product.
		{"bounded path", path{rate: 200, latency: 300 * time.Millisecond}, 60, 135, 190},
		// A LAN: little delay, and the window stays small enough not to queue at the peers.
		{"short path", path{rate: 2000, latency: 5 * time.Millisecond}, minWindow, 64, 1800},
		// The same path with three blocks in four in the fetching node's own store: their
		// instant answers do not make the path's answers look slow.
		{"bounded path, most blocks at hand", path{rate: 200, latency: 300 * time.Millisecond, local: 4}, 60, 135, 700},
		// A fetch with only 10 blocks to ask for at once says nothing about the path: the
		// window keeps its size.
		{"little demand", path{latency: 100 * time.Millisecond, demand: 10}, 32, 32, 90},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rate := tt.p.run(t, newWindowControl(32, defaultMaxWindow), 2*time.Minute, nil)
			t.Logf("window %d, %.0f blocks a second", c.limit(), rate)
			if got := c.limit(); got < tt.min || got > tt.max {
				t.Errorf("window %d after 2 minutes, want %d to %d", got, tt.min, tt.max)
			}
			if rate < tt.minRate {
				t.Errorf("%.0f blocks a second at the end, want ≥ %.0f", rate, tt.minRate)
			}
		})
	}
}

func TestWindowHalvesOnCongestion(t *testing.T) {
	// Every 50th request fails for a busy network: the window stays far below what the
	// path alone would allow, and never below its floor.
	c, rate := path{latency: time.Second}.run(t, newWindowControl(32, defaultMaxWindow), 2*time.Minute, func(n int) bool { return n%50 == 49 })
	t.Logf("window %d, %.0f blocks a second", c.limit(), rate)
	if got := c.limit(); got >= 128 || got < minWindow {
		t.Errorf("window %d with a failure in every 50 requests, want %d to 127", got, minWindow)
	}
	c = newWindowControl(64, defaultMaxWindow)
	c.answer(time.Now(), congested, time.Second, true)
	if got := c.limit(); got != 32 {
		t.Errorf("window %d after a failure from 64, want 32", got)
	}
	c.answer(time.Now(), cancelled, time.Second, true)
	if got := c.limit(); got != 32 {
		t.Errorf("a cancelled request changed the window to %d", got)
	}
}

func TestOutcomeOf(t *testing.T) {
	live := context.Background()
	done, cancel := context.WithCancel(live)
	cancel()
	for _, tt := range []struct {
		ctx  context.Context
		err  error
		want outcome
	}{
		{live, nil, answered},
		{live, fmt.Errorf("CHK block: %w", ErrBlockNotFound), answered},
		{live, fmt.Errorf("CHK block: %w", crypto.ErrVerify), answered},
		{live, errors.New("overloaded"), congested},
		{done, errors.New("overloaded"), cancelled},
	} {
		if got := outcomeOf(tt.ctx, tt.err); got != tt.want {
			t.Errorf("outcomeOf(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// TestWindowOrder: requests waiting for the window go in order of priority, whatever order
// they came in, and one that gives up waiting leaves no place taken.
func TestWindowOrder(t *testing.T) {
	w := newWindow(minWindow, minWindow)
	var held []slot
	for range minWindow {
		s, err := w.acquire(context.Background(), 0)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, s)
	}
	got := make(chan int64, 8)
	prios := []int64{5, 3, 9, 1}
	for _, p := range prios {
		go func() {
			s, err := w.acquire(context.Background(), p)
			if err != nil {
				t.Error(err)
				return
			}
			got <- p
			s.release(answered)
		}()
		waitFor(t, func() bool {
			w.mu.Lock()
			defer w.mu.Unlock()
			return len(w.waiting) == len(prios[:1+indexOf(prios, p)])
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error)
	go func() { _, err := w.acquire(ctx, 0); gaveUp <- err }()
	waitFor(t, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return len(w.waiting) == len(prios)+1 })
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled wait returned %v", err)
	}
	// One place at a time: each released place goes to the next in order, whose release
	// frees it again.
	held[0].release(answered)
	var order []int64
	for range prios {
		order = append(order, <-got)
	}
	if fmt.Sprint(order) != "[1 3 5 9]" {
		t.Errorf("let go in order %v, want [1 3 5 9]", order)
	}
	for _, s := range held[1:] {
		s.release(answered)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.inflight != 0 || len(w.waiting) != 0 {
		t.Errorf("%d in flight and %d waiting after every request ended", w.inflight, len(w.waiting))
	}
}

func indexOf(s []int64, v int64) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}
