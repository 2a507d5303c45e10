package routing

import (
	"container/list"
	"sync"

	"lethe/crypto"
)

// MemStore is a Store in memory, bounded by block counts, for tests and the simulator; a
// node uses the datastore. Its cache drops the least recently used block; its store the block
// farthest from Location. Blocks are kept as given, not copied: the simulator shares one
// slice per block across thousands of nodes.
type MemStore struct {
	mu       sync.Mutex
	location crypto.Location
	maxStore int
	maxCache int
	store    map[memKey][]byte        // guarded by mu
	cache    map[memKey]*list.Element // guarded by mu; elements hold *memEntry
	lru      *list.List               // most recent at the front; guarded by mu
}

type memKey struct {
	kt crypto.KeyType
	rk crypto.RoutingKey
}

type memEntry struct {
	k     memKey
	block []byte
}

// NewMemStore makes a store for a node at location, keeping at most maxStore blocks
// long-term and maxCache in its cache (zero: nothing).
func NewMemStore(location crypto.Location, maxStore, maxCache int) *MemStore {
	return &MemStore{location: location, maxStore: maxStore, maxCache: maxCache,
		store: make(map[memKey][]byte), cache: make(map[memKey]*list.Element), lru: list.New()}
}

// Get implements Store.
func (s *MemStore) Get(kt crypto.KeyType, rk crypto.RoutingKey) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := memKey{kt, rk}
	if b, ok := s.store[k]; ok {
		return b, true
	}
	if e, ok := s.cache[k]; ok {
		s.lru.MoveToFront(e)
		return e.Value.(*memEntry).block, true
	}
	return nil, false
}

// Store implements Store: past its bound, the block farthest from the node's location goes.
func (s *MemStore) Store(kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.maxStore <= 0 {
		return nil
	}
	k := memKey{kt, rk}
	if _, ok := s.store[k]; ok {
		return nil
	}
	s.store[k] = block
	if len(s.store) > s.maxStore {
		var far memKey
		farD := -1.0
		for k := range s.store {
			if d := k.rk.Location().Distance(s.location); d > farD {
				far, farD = k, d
			}
		}
		delete(s.store, far)
	}
	return nil
}

// StoreTail implements Store: in memory a tail's copy is kept as a sink's is.
func (s *MemStore) StoreTail(kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	return s.Store(kt, rk, block)
}

// Cache implements Store: past its bound, the least recently used block goes.
func (s *MemStore) Cache(kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.maxCache <= 0 {
		return nil
	}
	k := memKey{kt, rk}
	if e, ok := s.cache[k]; ok {
		s.lru.MoveToFront(e)
		return nil
	}
	s.cache[k] = s.lru.PushFront(&memEntry{k, block})
	if s.lru.Len() > s.maxCache {
		e := s.lru.Back()
		s.lru.Remove(e)
		delete(s.cache, e.Value.(*memEntry).k)
	}
	return nil
}

// Has reports whether the block is held, in the store or the cache, without touching the
// cache's recency.
func (s *MemStore) Has(kt crypto.KeyType, rk crypto.RoutingKey) (stored, cached bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := memKey{kt, rk}
	_, stored = s.store[k]
	_, cached = s.cache[k]
	return stored, cached
}

// Len is the number of blocks in the store and in the cache.
func (s *MemStore) Len() (stored, cached int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.store), len(s.cache)
}

// SetLocation moves the node the store belongs to (darknet swaps).
func (s *MemStore) SetLocation(l crypto.Location) {
	s.mu.Lock()
	s.location = l
	s.mu.Unlock()
}
