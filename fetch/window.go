package fetch

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"

	"lethe/crypto"
)

// The window of block requests a fetch keeps in flight adapts to the path (docs/spec.md
// §13.5): a fetch over a LAN needs a few dozen requests in flight, one across the internet,
// whose blocks cross several links of tens of milliseconds each, needs the path's
// bandwidth-delay product, hundreds. A fixed window is either too small for the second or
// floods the first.
//
// The window grows while the rate of answers grows, as TCP's slow start and BBR's probing do:
// it doubles each round (a round is as many answers as the window held when the round began)
// while each round's rate is at least a quarter above the best so far, and leaves this
// startup after three rounds that are not. It then settles at twice the window that gave the
// best rate and probes on: a quarter more after a round whose rate grew by a tenth, one more
// after a round that did not, and a fifth less after a round whose answers took more than
// twice as long as the quickest round's (requests queue somewhere without coming back any
// faster); answers the fetching node had at hand (nearAnswer) count for the rate but not for
// the answer times. A request that fails for any reason but the block's absence (a busy network,
// timeouts) halves it. Only rounds the window limited count: a fetch with fewer blocks left
// to ask for than the window allows learns nothing about the path from them.
//
// The window is bounded below by minWindow and above by Config.MaxWindow, so that one fetch
// cannot flood its peers whatever it measures; the routing refuses a peer's requests past its
// share in any case (routing's admit).
const (
	minWindow        = 4
	defaultMaxWindow = 256
	// roundMin is the fewest answers a round counts, so that a small window's rounds are
	// not judged on one or two answers.
	roundMin = 8
	// startupGrowth is the growth of the rate per round that keeps startup doubling, and
	// startupRounds how many rounds without it end startup.
	startupGrowth = 1.25
	startupRounds = 3
	// probeGrowth is the growth of the rate per round that makes a settled window grow by
	// a quarter; queueLatency the rise of a round's mean answer time over the quickest
	// round's that makes it shrink.
	probeGrowth  = 1.1
	queueLatency = 2
)

// outcome is how a block request ended, as the window reads it.
type outcome uint8

const (
	answered  outcome = iota // the block came, or the network said it has none
	congested                // it failed otherwise: busy peers, timeouts, lost routes
	cancelled                // the fetch stopped; it says nothing about the path
)

// outcomeOf reads how a request that ended with err (under the fetch's ctx) ended.
func outcomeOf(ctx context.Context, err error) outcome {
	switch {
	case ctx.Err() != nil:
		return cancelled
	case err == nil, errors.Is(err, ErrBlockNotFound), errors.Is(err, crypto.ErrVerify):
		// A block that does not verify is a peer's lie, not a sign of a busy path.
		return answered
	}
	return congested
}

// windowControl decides the window's size from the answers it is told about. It has no
// clock and no lock of its own: window calls it under its lock with the time.
type windowControl struct {
	size     float64
	min, max float64

	startup bool
	stalls  int     // startup rounds in a row without startupGrowth
	best    float64 // the best rate of a round, answers a second
	bestAt  float64 // the window's size in that round
	prev    float64 // the rate of the last round counted
	quick   float64 // the lowest mean answer time of a round, seconds; 0 before the first

	// The round in progress.
	began   time.Time
	target  int           // answers that end it
	answers int           // answers so far
	waited  int           // of them, answers given while requests waited for the window
	far     int           // of them, answers that took longer than nearAnswer
	latency time.Duration // their answer times, summed
}

// nearAnswer is the answer time below which an answer came from the fetching node itself (its
// store, a cache): quicker than any round trip over a network link. Such answers count for
// the rate but not for the answer times a round is judged by, or a round of them would set a
// quickest time that every round over the network then seems to exceed by far.
const nearAnswer = 2 * time.Millisecond

func newWindowControl(initial, maxSize int) *windowControl {
	maxSize = max(maxSize, minWindow)
	initial = min(max(initial, minWindow), maxSize)
	return &windowControl{size: float64(initial), min: minWindow, max: float64(maxSize), startup: true}
}

// limit is how many requests may be in flight.
func (c *windowControl) limit() int { return int(c.size) }

// answer counts one request that ended: its outcome, how long it took, and whether other
// requests were waiting for the window when it ended.
func (c *windowControl) answer(now time.Time, o outcome, took time.Duration, waiting bool) {
	switch o {
	case cancelled:
		return
	case congested:
		c.size = max(c.min, c.size/2)
		c.startup = false
		c.bestAt = min(c.bestAt, c.size)
		c.target = 0 // a new round starts with the next answer
		return
	}
	if c.target == 0 {
		c.began, c.target, c.answers, c.waited, c.far, c.latency = now, max(roundMin, c.limit()), 0, 0, 0, 0
		return
	}
	c.answers++
	if took >= nearAnswer {
		c.far++
		c.latency += took
	}
	if waiting {
		c.waited++
	}
	if c.answers < c.target {
		return
	}
	elapsed := now.Sub(c.began).Seconds()
	limited := 2*c.waited >= c.answers
	rate := float64(c.answers) / max(elapsed, 1e-6)
	timed := c.far >= roundMin/2 // enough answers came over the network to judge by
	mean := c.latency.Seconds() / float64(max(c.far, 1))
	c.began, c.target, c.answers, c.waited, c.far, c.latency = now, max(roundMin, c.limit()), 0, 0, 0, 0
	if !limited {
		return
	}
	if timed && (c.quick == 0 || mean < c.quick) {
		c.quick = mean
	}
	grew := rate >= probeGrowth*c.prev
	faster := rate >= startupGrowth*c.best
	c.prev = rate
	if rate > c.best {
		c.best, c.bestAt = rate, c.size
	}
	if c.startup {
		if faster {
			c.stalls = 0
			c.size = min(c.max, 2*c.size)
			return
		}
		if c.stalls++; c.stalls >= startupRounds {
			c.startup = false
			c.size = min(c.max, max(c.min, 2*c.bestAt))
		}
		return
	}
	switch {
	case grew:
		c.size = min(c.max, c.size*1.25)
	case timed && mean > queueLatency*c.quick:
		c.size = max(c.min, c.size*0.8)
	default:
		c.size = min(c.max, c.size+1)
	}
}

// window is the semaphore of a fetch's block requests: at most its control's limit in
// flight, and the waiting ones let go in order of priority (lowest first), so that the blocks
// the reader needs first are asked for first.
type window struct {
	now func() time.Time

	mu       sync.Mutex
	ctl      *windowControl // guarded by mu
	inflight int            // guarded by mu
	waiting  waiters        // guarded by mu
}

func newWindow(initial, maxSize int) *window {
	return &window{now: time.Now, ctl: newWindowControl(initial, maxSize)}
}

// slot is one request's place in the window, from acquire to release.
type slot struct {
	w     *window
	since time.Time
}

// acquire waits for a place in the window for a request of priority prio.
func (w *window) acquire(ctx context.Context, prio int64) (slot, error) {
	w.mu.Lock()
	if w.inflight < w.ctl.limit() && len(w.waiting) == 0 {
		w.inflight++
		w.mu.Unlock()
		return slot{w: w, since: w.now()}, nil
	}
	wt := &waiter{prio: prio, ready: make(chan struct{})}
	heap.Push(&w.waiting, wt)
	w.mu.Unlock()
	select {
	case <-wt.ready:
		return slot{w: w, since: w.now()}, nil
	case <-ctx.Done():
		w.mu.Lock()
		defer w.mu.Unlock()
		if wt.index < 0 {
			// Let go at the same moment: the place is ours, and goes to the next.
			w.inflight--
			w.grantLocked()
		} else {
			heap.Remove(&w.waiting, wt.index)
		}
		return slot{}, ctx.Err()
	}
}

// release gives the place back and tells the window how the request ended.
func (s slot) release(o outcome) {
	w := s.w
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.inflight--
	w.ctl.answer(now, o, now.Sub(s.since), len(w.waiting) > 0)
	w.grantLocked()
}

// grantLocked lets waiting requests go, highest priority first, while the window has room.
func (w *window) grantLocked() {
	for len(w.waiting) > 0 && w.inflight < w.ctl.limit() {
		wt := heap.Pop(&w.waiting).(*waiter)
		w.inflight++
		close(wt.ready)
	}
}

// hedgeAfter is how long a segment waits without an answer before it asks for a further block
// beside those it waits for (splitFetch.segment): four times the mean answer time of the
// quickest round, and at least hedgeMin.
func (w *window) hedgeAfter() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return max(hedgeMin, time.Duration(4*w.ctl.quick*float64(time.Second)))
}

// hedgeMin is the shortest wait before a segment asks for a further block: well past a
// block's round trip across the internet, so that a healthy path never pays for it.
const hedgeMin = 3 * time.Second

// size is the window's limit now (tests and progress).
func (w *window) size() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ctl.limit()
}

// waiter is a request waiting for a place; index is its place in the heap, -1 once let go.
type waiter struct {
	prio  int64
	ready chan struct{}
	index int
}

// waiters is a heap of waiting requests, lowest prio first, in arrival order among equals
// (heap order alone does not keep it; prio is unique per block in practice).
type waiters []*waiter

func (h waiters) Len() int           { return len(h) }
func (h waiters) Less(i, j int) bool { return h[i].prio < h[j].prio }
func (h waiters) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *waiters) Push(x any) {
	wt := x.(*waiter)
	wt.index = len(*h)
	*h = append(*h, wt)
}
func (h *waiters) Pop() any {
	old := *h
	wt := old[len(old)-1]
	old[len(old)-1] = nil
	wt.index = -1
	*h = old[:len(old)-1]
	return wt
}
