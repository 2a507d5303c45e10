// Package filetest holds an in-memory block store for tests and the network simulator, and
// the tests that take content through insert and back out through fetch. It is not part of
// any product path: a node stores blocks in its datastore and finds them through its router.
package filetest

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"lethe/crypto"
	"lethe/fetch"
)

// Store is an in-memory block store. It is an insert.BlockPutter and a fetch.BlockGetter, it
// verifies what it is given as a node would, and it can lose and corrupt blocks on purpose.
type Store struct {
	mu      sync.Mutex
	blocks  map[crypto.RoutingKey][]byte // guarded by mu
	kinds   map[crypto.RoutingKey]crypto.KeyType
	gets    map[crypto.RoutingKey]int // GetBlock calls per key; guarded by mu
	getsAll int
	corrupt map[crypto.RoutingKey]int // answer corrupted to the first n attempts; guarded by mu

	// OnGet, if set, is called at the start of every GetBlock (outside the lock): tests use
	// it to hold requests back or to cancel a fetch part-way.
	OnGet func(ctx context.Context, rk crypto.RoutingKey, attempt int) error
	// TrustPuts skips verifying CHK blocks on PutBlock, so that a benchmark measures the
	// insert pipeline and not the store's own hashing.
	TrustPuts bool
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{
		blocks:  map[crypto.RoutingKey][]byte{},
		kinds:   map[crypto.RoutingKey]crypto.KeyType{},
		gets:    map[crypto.RoutingKey]int{},
		corrupt: map[crypto.RoutingKey]int{},
	}
}

// PutBlock verifies and keeps a block. An SSK that differs from the one already kept under
// its key is a collision (spec §4.3).
func (s *Store) PutBlock(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch kt {
	case crypto.CHK:
		if s.TrustPuts {
			break
		}
		if err := crypto.VerifyCHK(rk, block); err != nil {
			return err
		}
	case crypto.SSK:
		if err := crypto.VerifySSK(rk, block); err != nil {
			return err
		}
	default:
		return fmt.Errorf("filetest: cannot store a %v block", kt)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.blocks[rk]; ok && kt == crypto.SSK {
		return crypto.CheckSSKCollision(old, block)
	}
	s.blocks[rk] = block
	s.kinds[rk] = kt
	return nil
}

// GetBlock returns the block kept under rk, or fetch.ErrBlockNotFound.
func (s *Store) GetBlock(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey, attempt int) ([]byte, error) {
	if s.OnGet != nil {
		if err := s.OnGet(ctx, rk, attempt); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets[rk]++
	s.getsAll++
	b, ok := s.blocks[rk]
	if !ok || s.kinds[rk] != kt {
		return nil, fetch.ErrBlockNotFound
	}
	if attempt < s.corrupt[rk] {
		c := bytes.Clone(b)
		c[len(c)/2] ^= 0x40
		return c, nil
	}
	return b, nil
}

// Delete loses the block under rk.
func (s *Store) Delete(rk crypto.RoutingKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.blocks, rk)
}

// Corrupt makes the block under rk come back damaged to its first n attempts, as from a
// hostile peer on the first routes tried.
func (s *Store) Corrupt(rk crypto.RoutingKey, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.corrupt[rk] = n
}

// Has reports whether a block is kept under rk.
func (s *Store) Has(rk crypto.RoutingKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.blocks[rk]
	return ok
}

// Len is the number of blocks kept.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.blocks)
}

// Gets returns how many times rk was requested.
func (s *Store) Gets(rk crypto.RoutingKey) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets[rk]
}

// TotalGets returns how many GetBlock calls reached the store.
func (s *Store) TotalGets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.getsAll
}

// ResetCounts forgets the request counts.
func (s *Store) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.gets)
	s.getsAll = 0
}
