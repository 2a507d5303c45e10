package sim

import (
	"context"
	"errors"
	"sync"
	"time"

	"lethe/crypto"
	"lethe/transport"
	"lethe/wire"
)

// uplink caps what one simulated node sends, as a home connection's upload does: its
// messages leave in the order sent, one after another, at most rate bytes of encoded messages
// a second (the frames of spec §11.2 add 3% to a block, which the cap ignores). A message waits in the node's queue until
// its turn; a queue longer than maxUplinkQueue refuses more, as a link's full queue does. A
// goroutine drains the queue only while it is not empty, so idle nodes cost nothing.
type uplink struct {
	*transport.MemNode

	rate     float64 // bytes a second, 0 uncapped; guarded by mu
	mu       sync.Mutex
	queue    []uplinkMsg // guarded by mu
	queued   int         // bytes in queue; guarded by mu
	draining bool        // guarded by mu
	closed   bool        // guarded by mu
	sent     uint64      // bytes sent; guarded by mu
	wg       sync.WaitGroup
}

type uplinkMsg struct {
	to   crypto.NodeID
	m    wire.Message
	size int
}

// maxUplinkQueue is how many bytes may wait for a node's uplink.
const maxUplinkQueue = 4 << 20

func newUplink(n *transport.MemNode, rate float64) *uplink { return &uplink{MemNode: n, rate: rate} }

// Send queues m behind what the node already sends. Like a link's Send it does not wait for
// room when ctx is done, and reports a full queue as transport.ErrQueueFull.
func (u *uplink) Send(ctx context.Context, to crypto.NodeID, m wire.Message) error {
	u.mu.Lock()
	rate := u.rate
	u.mu.Unlock()
	if rate == 0 {
		return u.MemNode.Send(ctx, to, m)
	}
	b, err := wire.Encode(m)
	if err != nil {
		return err
	}
	size := len(b)
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return transport.ErrNotConnected
	}
	if u.queued+size > maxUplinkQueue && u.queued > 0 {
		return transport.ErrQueueFull
	}
	u.queue = append(u.queue, uplinkMsg{to, m, size})
	u.queued += size
	if !u.draining {
		u.draining = true
		u.wg.Add(1)
		go u.drain()
	}
	return nil
}

// drain sends the queued messages at the node's rate.
func (u *uplink) drain() {
	defer u.wg.Done()
	next := time.Now()
	for {
		u.mu.Lock()
		if len(u.queue) == 0 || u.closed {
			u.draining = false
			u.mu.Unlock()
			return
		}
		q := u.queue[0]
		rate := max(u.rate, 1)
		u.queue = u.queue[1:]
		u.queued -= q.size
		u.sent += uint64(q.size)
		u.mu.Unlock()
		// The message has left once its last byte has: it takes size/rate on the wire.
		next = later(next, time.Now()).Add(time.Duration(float64(q.size) / rate * float64(time.Second)))
		time.Sleep(time.Until(next))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := u.MemNode.Send(ctx, q.to, q.m)
		cancel()
		if err != nil && !errors.Is(err, transport.ErrNotConnected) {
			continue // lost, as on a link that gave up: the routers' timeouts cover it
		}
	}
}

// setRate caps the node's uplink at rate bytes a second; 0 lifts the cap.
func (u *uplink) setRate(rate float64) {
	u.mu.Lock()
	u.rate = rate
	u.mu.Unlock()
}

// Sent is how many bytes the node has sent.
func (u *uplink) Sent() uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.sent
}

// Close stops the uplink, dropping what waits, and closes the node.
func (u *uplink) Close() error {
	u.mu.Lock()
	u.closed = true
	u.queue = nil
	u.mu.Unlock()
	u.wg.Wait()
	return u.MemNode.Close()
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
