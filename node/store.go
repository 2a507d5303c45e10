package node

import (
	"bytes"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"lethe/crypto"
	"lethe/datastore"
)

// Tuning of the cache writes (not part of any format).
const (
	// maxCacheWriters bounds the cache writes waiting for the datastore at once. They commit
	// together (the datastore groups concurrent puts into one transaction), so a few dozen
	// in flight is what keeps the disk busy; past it, a block passing through is not cached.
	maxCacheWriters = 64
)

// blockStore is the datastore as the router uses it (routing.Store). A sink's long-term
// copy is written before the insert is answered: a sink that says it has a block must have
// it on disk. The copies of its tail and cache writes are not waited for (spec §8.4): they
// commit together, and a relay that waited for an fsync before passing a block on would make
// every fetch as slow as the slowest disk on its path. A block waiting to be written is
// served from memory meanwhile, and when the disk falls behind by maxCacheWriters blocks,
// further blocks are not cached (counted in cacheDropped) and a tail's copy is written
// before the insert goes on.
type blockStore struct {
	ds  *datastore.Store
	log *slog.Logger

	mu      sync.Mutex
	pending map[crypto.RoutingKey][]byte // cache writes not yet committed; guarded by mu
	closed  bool                         // guarded by mu
	slots   chan struct{}                // one token per cache write in flight
	wg      sync.WaitGroup               // cache writes in flight

	cacheDropped atomic.Uint64
	writeErrors  atomic.Uint64
}

func newBlockStore(ds *datastore.Store, log *slog.Logger) *blockStore {
	return &blockStore{
		ds:      ds,
		log:     log,
		pending: make(map[crypto.RoutingKey][]byte),
		slots:   make(chan struct{}, maxCacheWriters),
	}
}

// Get implements routing.Store. A block the datastore cannot produce (absent, or damaged
// and removed) is simply not there. A block still waiting for its write is copied out of
// its buffer, which goes back to writeBuffers after the write.
func (s *blockStore) Get(kt crypto.KeyType, rk crypto.RoutingKey) ([]byte, bool) {
	s.mu.Lock()
	b, ok := s.pending[rk]
	if ok {
		b = bytes.Clone(b)
	}
	s.mu.Unlock()
	if ok {
		return b, true
	}
	b, err := s.ds.Get(kt, rk)
	if err != nil {
		if !errors.Is(err, datastore.ErrNotFound) && !errors.Is(err, datastore.ErrClosed) {
			s.log.Warn("store: read failed", "err", err)
		}
		return nil, false
	}
	return b, true
}

// Has reports whether the block is held, without reading it.
func (s *blockStore) Has(kt crypto.KeyType, rk crypto.RoutingKey) bool {
	s.mu.Lock()
	_, ok := s.pending[rk]
	s.mu.Unlock()
	return ok || s.ds.Has(kt, rk)
}

// CopiesWhatItKeeps implements routing.CopyingStore: the datastore seals a copy of what it
// writes, and a write queued for later (later) holds a copy of its own, so the router may
// give the store blocks in the buffers its links lend it, and reuse them once it returns.
func (*blockStore) CopiesWhatItKeeps() {}

// Store implements routing.Store: the block is on disk when it returns.
func (s *blockStore) Store(kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	return s.ds.PutVerified(kt, rk, block, datastore.AreaStore, datastore.CommitAtOnce)
}

// StoreTail implements routing.Store: a tail's copy is queued for the store with a shared
// commit (spec §8.4) and StoreTail returns at once; the block is served from memory until it
// is on disk. When the disk is behind by maxCacheWriters blocks, or was found full within
// diskFullFor, the copy is written before StoreTail returns instead: unlike a cache copy it
// is never left out, and a node whose disk is full learns that its copy failed before it
// answers the insert (as it did before tails shared commits), rather than answer that it
// keeps a copy its disk then refuses.
func (s *blockStore) StoreTail(kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	if !diskFull(s.ds.Stats(), time.Now()) {
		if queued, _, err := s.later(kt, rk, block, datastore.AreaStore); queued || err != nil {
			return err
		}
	}
	return s.ds.PutVerified(kt, rk, block, datastore.AreaStore, datastore.CommitAtOnce)
}

// Cache implements routing.Store: the write is queued and Cache returns at once.
func (s *blockStore) Cache(kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	_, busy, err := s.later(kt, rk, block, datastore.AreaCache)
	if busy {
		s.cacheDropped.Add(1)
	}
	return err
}

// later queues a write with a shared commit and reports whether it did: not when
// maxCacheWriters writes wait already (busy), nor when a write of the same block does.
func (s *blockStore) later(kt crypto.KeyType, rk crypto.RoutingKey, block []byte, area datastore.Area) (queued, busy bool, err error) {
	select {
	case s.slots <- struct{}{}:
	default:
		return false, true, nil
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.slots
		return false, false, datastore.ErrClosed
	}
	if _, dup := s.pending[rk]; dup {
		s.mu.Unlock()
		<-s.slots
		return false, false, nil
	}
	// The caller's block may be in a buffer it reuses once this returns (CopiesWhatItKeeps):
	// the write waits with a copy in a buffer of its own, given back when it is done, when
	// Get copies out of it and nothing else refers to it.
	buf, kept := keepCopy(block)
	s.pending[rk] = kept
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		if err := s.ds.PutVerified(kt, rk, kept, area, datastore.CommitShared); err != nil {
			s.writeErrors.Add(1)
			s.log.Debug("store: write failed", "area", area, "err", err)
		}
		s.mu.Lock()
		delete(s.pending, rk)
		s.mu.Unlock()
		if buf != nil {
			writeBuffers.Put(buf)
		}
		<-s.slots
	}()
	return true, false, nil
}

// writeBuffers recycles the copies of blocks waiting for their writes (later), which come at
// the rate blocks pass through the node.
var writeBuffers = sync.Pool{New: func() any { return new([crypto.CHKBlockSize]byte) }}

// keepCopy copies block into a buffer of writeBuffers, or a new slice if it does not fit one
// (buf is then nil).
func keepCopy(block []byte) (buf *[crypto.CHKBlockSize]byte, kept []byte) {
	if len(block) > crypto.CHKBlockSize {
		return nil, bytes.Clone(block)
	}
	buf = writeBuffers.Get().(*[crypto.CHKBlockSize]byte)
	return buf, buf[:copy(buf[:], block):len(block)]
}

// Close waits for the cache writes in flight. It does not close the datastore.
func (s *blockStore) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.wg.Wait()
}
