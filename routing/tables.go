package routing

import (
	"time"

	"lethe/crypto"
)

// seenTable remembers the IDs of requests and inserts this node has handled recently, so
// that one coming back round a loop is answered with RejectedLoop (spec §18.5). It is bounded:
// past its capacity the oldest IDs go first. Not safe for concurrent use; the Router's walks
// part guards it.
type seenTable struct {
	ttl   time.Duration
	cap   int
	ids   map[uint64]time.Time // ID → when it expires
	order []seenEntry          // insertion order, for expiry and eviction
}

type seenEntry struct {
	id      uint64
	expires time.Time
}

func newSeenTable(capacity int, ttl time.Duration) *seenTable {
	return &seenTable{ttl: ttl, cap: capacity, ids: make(map[uint64]time.Time)}
}

// add records id and reports whether it was new. An ID seen before and not yet expired is a
// loop.
func (s *seenTable) add(id uint64, now time.Time) bool {
	s.expire(now)
	if exp, ok := s.ids[id]; ok && now.Before(exp) {
		return false
	}
	for len(s.ids) >= s.cap && len(s.order) > 0 {
		s.drop()
	}
	exp := now.Add(s.ttl)
	s.ids[id] = exp
	s.order = append(s.order, seenEntry{id, exp})
	return true
}

func (s *seenTable) expire(now time.Time) {
	for len(s.order) > 0 && !now.Before(s.order[0].expires) {
		s.drop()
	}
}

// drop removes the oldest queued entry. Queue slices advance from the front, so append
// reallocates without the consumed prefix and memory stays proportional to the live entries.
// A queued entry whose ID was re-added since is stale and only leaves the queue.
func (s *seenTable) drop() {
	e := s.order[0]
	s.order = s.order[1:]
	if s.ids[e.id] == e.expires {
		delete(s.ids, e.id)
	}
}

// failKey names a block in the recently-failed table.
type failKey struct {
	kt crypto.KeyType
	rk crypto.RoutingKey
}

// failEntry records who asked for a key that could not be found (spec §18.6).
type failEntry struct {
	failedAt time.Time
	htl      uint8           // the most HTL a search for the key failed with recently
	askers   []crypto.NodeID // peers to offer the block to if it appears; at most maxAskers
}

// failTable is the bounded recently-failed table (Freenet's ULPRs): a key that just failed is
// answered at once with DataNotFound instead of being searched again, and when the block
// appears after all, the peers that asked are offered it. Guarded by the Router's failed part.
type failTable struct {
	quick   time.Duration // how long a failed key is answered without searching
	keep    time.Duration // how long askers are remembered for an offer
	cap     int
	entries map[failKey]*failEntry
	order   []failQueued // oldest first; an entry refreshed since it was queued is queued again
}

type failQueued struct {
	k        failKey
	failedAt time.Time
}

const maxAskers = 8

func newFailTable(capacity int, quick, keep time.Duration) *failTable {
	return &failTable{quick: quick, keep: keep, cap: capacity, entries: make(map[failKey]*failEntry)}
}

// recentlyFailed reports whether a search for k with htl would be pointless: one with at
// least as much HTL failed moments ago (Freenet's rule). A request with more HTL than the
// failed one may reach further, so it is let through.
func (f *failTable) recentlyFailed(k failKey, htl uint8, now time.Time) bool {
	e, ok := f.entries[k]
	return ok && e.htl >= htl && now.Sub(e.failedAt) < f.quick
}

// record notes that a search for k with htl failed and that asker (nil: none, the search was
// the node's own) wants it.
func (f *failTable) record(k failKey, htl uint8, asker *crypto.NodeID, now time.Time) {
	f.expire(now)
	e, ok := f.entries[k]
	if !ok {
		for len(f.entries) >= f.cap && len(f.order) > 0 {
			f.drop()
		}
		e = &failEntry{}
		f.entries[k] = e
	}
	if now.Sub(e.failedAt) >= f.quick {
		e.htl = 0
	}
	e.failedAt = now
	e.htl = max(e.htl, htl)
	f.order = append(f.order, failQueued{k, now})
	if asker == nil {
		return
	}
	for _, a := range e.askers {
		if a == *asker {
			return
		}
	}
	if len(e.askers) < maxAskers {
		e.askers = append(e.askers, *asker)
	}
}

// take removes and returns k's entry, when its block has appeared and the askers are to be
// offered it.
func (f *failTable) take(k failKey) *failEntry {
	e, ok := f.entries[k]
	if ok {
		delete(f.entries, k)
	}
	return e
}

func (f *failTable) expire(now time.Time) {
	for len(f.order) > 0 && now.Sub(f.order[0].failedAt) >= f.keep {
		f.drop()
	}
}

// drop removes the oldest queued entry, and its table entry if it was not refreshed since.
func (f *failTable) drop() {
	q := f.order[0]
	f.order = f.order[1:]
	if e, ok := f.entries[q.k]; ok && e.failedAt.Equal(q.failedAt) {
		delete(f.entries, q.k)
	}
}
