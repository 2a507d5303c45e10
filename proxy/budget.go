package proxy

import (
	"context"
	"sync"

	"lethe/metadata"
)

// budget bounds the memory that fetches hold at once: each takes a share by the size of what
// it fetches before it starts, and gives it back when it ends. Requests beyond the budget
// wait in order of arrival, so that a burst of browsers cannot make the proxy allocate
// without bound.
type budget struct {
	mu      sync.Mutex
	free    int64       // guarded by mu
	waiters []*reserved // waiting in order of arrival; guarded by mu
}

type reserved struct {
	n     int64
	ready chan struct{} // closed when the share is granted
}

func newBudget(n int64) *budget { return &budget{free: n} }

// fetchCost is the memory a fetch of doc holds at most: the segments fetched ahead of the
// one being read (fetch keeps four in flight), and a little for buffers.
func fetchCost(doc *metadata.Document) int64 {
	const perSegment = metadata.SegmentDataBlocks * metadata.BlockSize
	return min(doc.Size, 4*perSegment) + 64<<10
}

// acquire takes n bytes of the budget, waiting while it is spent; n must not exceed the
// whole budget. The caller must release n when done.
func (b *budget) acquire(ctx context.Context, n int64) error {
	b.mu.Lock()
	if len(b.waiters) == 0 && b.free >= n {
		b.free -= n
		b.mu.Unlock()
		return nil
	}
	w := &reserved{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.grantLocked()
	b.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		defer b.mu.Unlock()
		select {
		case <-w.ready:
			b.free += n // granted just now: give it back
			b.grantLocked()
		default:
			for i, o := range b.waiters {
				if o == w {
					b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
					break
				}
			}
			b.grantLocked()
		}
		return ctx.Err()
	}
}

func (b *budget) release(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.free += n
	b.grantLocked()
}

// grantLocked hands the budget to waiters in order while it lasts. The first waiter larger
// than what is free blocks those behind it, so that a large fetch is not starved by small
// ones.
func (b *budget) grantLocked() {
	for len(b.waiters) > 0 {
		w := b.waiters[0]
		if w.n > b.free {
			return
		}
		b.free -= w.n
		b.waiters = b.waiters[1:]
		close(w.ready)
	}
}
