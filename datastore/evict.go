package datastore

import (
	"fmt"
	"math"

	bolt "go.etcd.io/bbolt"

	"lethe/crypto"
)

// Eviction (spec §8.5, §8.6). Both areas keep their order in bbolt, not in memory: the store
// area in an index sorted by coarse location, the cache area in a ring sorted by sequence
// number. Memory does not grow with the number of blocks held.

// makeRoomInStore evicts the blocks farthest from the node's location until a block of n bytes
// at coarse location loc fits. If the newcomer would itself be among the farthest, nothing is
// evicted and it is not admitted (ok is false): the store keeps the blocks closest to the node
// whatever order they arrive in. Ties go to the blocks already held.
func (s *Store) makeRoomInStore(tx *bolt.Tx, st *state, ev *events, n int64, loc uint16) (ok bool, err error) {
	bound := s.bounds[AreaStore]
	if n > bound {
		ev.rejected++
		return false, nil
	}
	need := st.store.bytes + n - bound
	if need <= 0 {
		return true, nil
	}
	l := s.location()
	far := newFarthest(tx.Bucket(bucketStore), l)
	mine := coarseDistance(l, loc)
	var victims []victim
	for freed := int64(0); freed < need; {
		v, found, err := far.next()
		if err != nil {
			return false, err
		}
		if !found {
			return false, fmt.Errorf("%w: the store accounts %d bytes but its index ran out", ErrCorrupt, st.store.bytes)
		}
		if v.dist <= mine {
			ev.rejected++
			return false, nil
		}
		victims = append(victims, v)
		freed += blockSize(v.slot.keyType())
	}
	return true, s.evictFromStore(tx, st, ev, victims)
}

// shrinkStore evicts up to limit of the farthest blocks while the store exceeds its bound. It
// reports whether the store now fits.
func (s *Store) shrinkStore(tx *bolt.Tx, st *state, ev *events, limit int) (bool, error) {
	far := newFarthest(tx.Bucket(bucketStore), s.location())
	var victims []victim
	excess := st.store.bytes - max(s.bounds[AreaStore], 0)
	for excess > 0 && len(victims) < limit {
		v, found, err := far.next()
		if err != nil {
			return false, err
		}
		if !found {
			return false, fmt.Errorf("%w: the store accounts %d bytes but its index ran out", ErrCorrupt, st.store.bytes)
		}
		victims = append(victims, v)
		excess -= blockSize(v.slot.keyType())
	}
	return excess <= 0, s.evictFromStore(tx, st, ev, victims)
}

func (s *Store) evictFromStore(tx *bolt.Tx, st *state, ev *events, victims []victim) error {
	idx := tx.Bucket(bucketStore)
	for _, v := range victims {
		if err := idx.Delete(v.key); err != nil {
			return err
		}
		if err := s.dropEvicted(tx, AreaStore, v.slot, v.seq); err != nil {
			return err
		}
		st.store.blocks--
		st.store.bytes -= blockSize(v.slot.keyType())
		ev.evictions++
	}
	return nil
}

// dropEvicted deletes the record and keys entry of a block found through an area's index,
// after checking that the keys entry agrees.
func (s *Store) dropEvicted(tx *bolt.Tx, area Area, sl slot, seq uint64) error {
	e, found, err := lookup(tx, sl)
	if err != nil {
		return err
	}
	if !found || e.seq != seq || e.area != area {
		return fmt.Errorf("%w: %v index entry %d disagrees with the keys bucket (%v %+v)", ErrCorrupt, area, seq, found, e)
	}
	return deleteRecord(tx, sl, seq)
}

// victim is a block the store area may evict.
type victim struct {
	key  []byte // its store-index key (a copy)
	slot slot
	seq  uint64
	dist float64
}

// farthest walks the store index from the point opposite the node's location towards the
// node, on both sides at once, yielding blocks farthest first. One cursor goes up the circle
// from the antipode's 1/65536 arc, the other down from the arc below it; each covers half of
// the circle, so together they see every block exactly once.
type farthest struct {
	l         crypto.Location
	anti      uint16 // the arc holding the antipode
	up, down  *bolt.Cursor
	upK, upV  []byte
	dnK, dnV  []byte
	upWrapped bool
	dnWrapped bool
}

// halfCircle is half of the 65536 arcs: each cursor of farthest covers this many.
const halfCircle = 1 << 15

func newFarthest(b *bolt.Bucket, l crypto.Location) *farthest {
	a := float64(l) + 0.5
	if a >= 1 {
		a--
	}
	f := &farthest{l: l, anti: uint16(math.Floor(a * 65536)), up: b.Cursor(), down: b.Cursor()}
	start := []byte{byte(f.anti >> 8), byte(f.anti)}
	f.upK, f.upV = f.up.Seek(start)
	if f.upK == nil {
		f.upK, f.upV = f.up.First()
		f.upWrapped = true
	}
	if k, _ := f.down.Seek(start); k == nil {
		f.dnK, f.dnV = f.down.Last()
	} else if f.dnK, f.dnV = f.down.Prev(); f.dnK == nil {
		f.dnK, f.dnV = f.down.Last()
		f.dnWrapped = true
	}
	return f
}

// bin is the coarse location of a store-index key (its first two bytes).
func bin(k []byte) uint16 {
	if len(k) < 2 {
		return 0
	}
	return uint16(k[0])<<8 | uint16(k[1])
}

// upValid: the up cursor stands on a block of its half: from the antipode's arc upwards,
// before wrapping past the top of the key space only arcs at or above it, after only below.
func (f *farthest) upValid() bool {
	if f.upK == nil {
		return false
	}
	b := bin(f.upK)
	if (b >= f.anti) == f.upWrapped {
		return false
	}
	return b-f.anti < halfCircle
}

func (f *farthest) downValid() bool {
	if f.dnK == nil {
		return false
	}
	b := bin(f.dnK)
	if (b < f.anti) == f.dnWrapped {
		return false
	}
	return f.anti-1-b < halfCircle
}

// next yields the farthest block not yet yielded; found is false when none is left.
func (f *farthest) next() (v victim, found bool, err error) {
	up, down := f.upValid(), f.downValid()
	if !up && !down {
		return victim{}, false, nil
	}
	var k, val []byte
	if up && (!down || coarseDistance(f.l, bin(f.upK)) >= coarseDistance(f.l, bin(f.dnK))) {
		k, val = f.upK, f.upV
		if f.upK, f.upV = f.up.Next(); f.upK == nil && !f.upWrapped {
			f.upK, f.upV = f.up.First()
			f.upWrapped = true
		}
	} else {
		k, val = f.dnK, f.dnV
		if f.dnK, f.dnV = f.down.Prev(); f.dnK == nil && !f.dnWrapped {
			f.dnK, f.dnV = f.down.Last()
			f.dnWrapped = true
		}
	}
	loc, seq, err := parseIndexKey(k)
	if err != nil {
		return victim{}, false, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	sl, err := parseSlot(val)
	if err != nil {
		return victim{}, false, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return victim{key: append([]byte(nil), k...), slot: sl, seq: seq, dist: coarseDistance(f.l, loc)}, true, nil
}

// makeRoomInCache runs the cache's CLOCK until a block of n bytes fits (spec §8.6), evicting
// at most limit blocks if limit is positive.
//
// The ring is in sequence order, which is the order blocks were cached; the hand sweeps it
// and wraps round. A block in probation whose reference bit is set (it was requested since
// the hand last passed) is promoted to the protected segment; one whose bit is clear is
// evicted. Protected blocks are passed over while the protected segment is within its share
// of the cache; beyond it, the hand demotes unreferenced protected blocks to probation. So a
// stream of blocks that nobody requests again, however long, churns only probation and never
// flushes the blocks that were wanted twice.
func (s *Store) makeRoomInCache(tx *bolt.Tx, st *state, ev *events, n int64, limit int) error {
	bound := max(s.bounds[AreaCache], 0)
	if s.roomBound > 0 {
		bound = min(bound, s.roomBound)
	}
	return s.makeRoomInCacheWithin(tx, st, ev, n, bound, limit)
}

// makeRoomInCacheWithin is makeRoomInCache against bound instead of the cache's own: a full
// disk (freeCacheForDisk) makes the room the cache already holds its bound for the moment.
func (s *Store) makeRoomInCacheWithin(tx *bolt.Tx, st *state, ev *events, n, bound int64, limit int) error {
	if st.cache.bytes+n <= bound {
		return nil
	}
	capProtected := max(s.bounds[AreaCache], 0) / protectedDen * protectedNum
	ring := tx.Bucket(bucketCache)
	c := ring.Cursor()
	k, v := c.Seek(seqKey(max(st.hand, 1)))
	// Every step clears a bit, demotes, evicts or passes a protected block; after two full
	// turns (reference bits can be set again meanwhile by gets) the hand stops sparing.
	steps, spare := 0, 2*st.cache.blocks+8
	evicted := 0
	for st.cache.bytes+n > bound && (limit <= 0 || evicted < limit) {
		if k == nil {
			if k, v = c.First(); k == nil {
				return fmt.Errorf("%w: the cache accounts %d bytes but its ring is empty", ErrCorrupt, st.cache.bytes)
			}
		}
		seq, err := parseSeqKey(k)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		re, err := parseRingEntry(v)
		if err != nil {
			return fmt.Errorf("%w: cache ring entry %d: %v", ErrCorrupt, seq, err)
		}
		size := blockSize(re.slot.keyType())
		steps++
		sparing := int64(steps) <= spare
		switch {
		case re.protected && sparing && (st.protected <= capProtected || s.refs.take(seq)):
			k, v = c.Next()
			continue
		case re.protected && sparing:
			re.protected = false // demoted: back to probation, where it is looked at next turn
			st.protected -= size
			err = ring.Put(k, re.encode())
		case sparing && s.refs.take(seq):
			re.protected = true
			st.protected += size
			err = ring.Put(k, re.encode())
		default:
			if err = ring.Delete(k); err == nil {
				err = s.dropEvicted(tx, AreaCache, re.slot, seq)
			}
			st.cache.blocks--
			st.cache.bytes -= size
			if re.protected {
				st.protected -= size
			}
			ev.evictions++
			evicted++
		}
		if err != nil {
			return err
		}
		// The bucket changed under the cursor: stand again just past this block.
		k, v = c.Seek(seqKey(seq + 1))
	}
	if k != nil {
		st.hand, _ = parseSeqKey(k)
	} else {
		st.hand = 0
	}
	return nil
}
