package datastore

import (
	"math/bits"
	"sync/atomic"

	"lethe/crypto"
)

// refBits are the CLOCK's reference bits: a fixed table in memory, one bit per slot, indexed
// by a hash of a cache record's sequence number. A get sets the bit without a write
// transaction; the writer's hand reads and clears it when it passes. The table's size follows
// the cache bound, never the number of blocks, and two records that share a slot only share a
// hint. The bits are not persisted: after a restart every cached block starts cold, and the
// protected flags in the ring (which are persisted) keep what was already known to be popular.
type refBits struct {
	words []atomic.Uint32
	mask  uint64 // slots - 1
}

const (
	minRefSlots = 1 << 10
	maxRefSlots = 1 << 26 // 8 MiB of bits: a cache of 140 GiB of SSK blocks at four slots each
)

// newRefBits sizes the table at four slots per block the cache can hold, so that few cached
// blocks share a slot.
func newRefBits(cacheBound int64) *refBits {
	want := uint64(max(cacheBound, 0)/crypto.SSKBlockSize) * 4
	slots := uint64(minRefSlots)
	if want > slots {
		slots = 1 << bits.Len64(want-1)
	}
	slots = min(slots, maxRefSlots)
	return &refBits{words: make([]atomic.Uint32, slots/32), mask: slots - 1}
}

func (r *refBits) locate(seq uint64) (*atomic.Uint32, uint32) {
	i := mix64(seq) & r.mask
	return &r.words[i/32], 1 << (i % 32)
}

// mix64 is splitmix64's finaliser: neighbouring sequence numbers land far apart.
func mix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// set marks the record as referenced.
func (r *refBits) set(seq uint64) {
	w, b := r.locate(seq)
	if w.Load()&b == 0 {
		w.Or(b)
	}
}

// take reports whether the record was referenced and clears the mark.
func (r *refBits) take(seq uint64) bool {
	w, b := r.locate(seq)
	return w.And(^b)&b != 0
}

// clear forgets any mark left in the slot by an earlier record.
func (r *refBits) clear(seq uint64) { r.take(seq) }
