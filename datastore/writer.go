package datastore

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"lethe/crypto"
)

// op is one change queued for the writer: a put, or the removal of a damaged record.
type op struct {
	put   bool
	kt    crypto.KeyType
	rk    crypto.RoutingKey
	key   dbKey
	area  Area
	wait  bool   // put: it may wait for company (CommitShared)
	block []byte // put: the verified block, for the SSK collision check
	value []byte // put: the sealed record
	seq   uint64 // removal: the record Get found damaged
	done  chan error
}

// events are counted inside a transaction and published only if it commits.
type events struct {
	puts, evictions, rejected, damaged uint64
}

// write is the writer goroutine: it takes the first queued op, then everything else already
// queued (up to a batch), and commits them in one transaction. While it commits, new puts
// queue up and form the next batch, so the batch grows with the load and a lone put into the
// store waits for no timer. A batch of shared-commit puts alone waits up to cacheDelay for
// more writes to share its commit (Options.SharedCommitDelay).
func (s *Store) write() {
	defer close(s.writerDone)
	batch := make([]*op, 0, maxBatchOps)
	wait := time.NewTimer(time.Hour)
	wait.Stop()
	for o := range s.ops {
		batch = append(batch[:0], o)
		size := len(o.value)
		lazy := s.lazy(o)
		if lazy {
			wait.Reset(s.cacheDelay)
		}
	fill:
		for len(batch) < maxBatchOps && size < maxBatchBytes {
			var (
				o  *op
				ok bool
			)
			if lazy {
				s.waiting.Store(int64(len(batch)))
				select {
				case o, ok = <-s.ops:
				case <-wait.C:
					lazy = false
					continue
				case <-s.flush:
					lazy = false
					continue
				}
			} else {
				select {
				case o, ok = <-s.ops:
				default:
					break fill
				}
			}
			if !ok {
				break
			}
			batch = append(batch, o)
			size += len(o.value)
			// A write that must not wait, or enough shared-commit puts: commit what is queued.
			lazy = lazy && s.lazy(o) && len(batch) < sharedBatchOps
		}
		wait.Stop()
		s.waiting.Store(0)
		s.commit(batch)
	}
}

// lazy reports whether an op may wait for others to share its commit: a put with a shared
// commit, when the store was given a delay for them.
func (s *Store) lazy(o *op) bool {
	return s.cacheDelay > 0 && o.put && o.wait
}

// commit applies a batch in one transaction and answers each op. An op that fails in a way
// that spoils the transaction (damage found mid-way), or a batch that finds the disk full,
// makes the batch run again one op at a time, so only the op that spoiled it, or found no
// room, fails. A cache put that finds the disk full makes room in the cache and tries once
// more (freeCacheForDisk); failing that, or for any other op, it fails and changes nothing,
// in the file or in memory.
func (s *Store) commit(batch []*op) {
	s.probeRoom()
	results, broken, err := s.tryCommit(batch)
	if err != nil && (broken >= 0 || errors.Is(err, ErrDiskFull)) && len(batch) > 1 {
		for _, o := range batch {
			s.commit([]*op{o})
		}
		return
	}
	if errors.Is(err, ErrDiskFull) {
		s.diskFullAt.Store(time.Now().UnixNano())
		s.shutStore()
	}
	if errors.Is(err, ErrDiskFull) && s.freeCacheForDisk(cachePutBytes(batch)) {
		results, _, err = s.tryCommit(batch)
	}
	if err != nil {
		if errors.Is(err, ErrDiskFull) {
			for _, o := range batch {
				if o.put {
					s.diskFullWrites.Add(1)
				}
			}
			s.log.Error("datastore: disk full; the write was undone", "path", s.path, "blocks", len(batch))
		} else if errors.Is(err, ErrCorrupt) {
			s.log.Error("datastore: damage found while writing; run Check", "path", s.path, "err", err)
		}
		for _, o := range batch {
			o.done <- err
		}
		return
	}
	for i, o := range batch {
		if results[i] == errStoreShut {
			s.refusedForDisk()
		}
		o.done <- results[i]
	}
}

// refusedForDisk counts a put refused because the disk is full.
func (s *Store) refusedForDisk() {
	s.diskFullAt.Store(time.Now().UnixNano())
	s.diskFullWrites.Add(1)
}

// tryCommit applies a batch in one transaction and, if it commits, publishes the new state.
// It returns each op's result, the index of the op that spoiled the transaction (-1 if none)
// and the transaction's error.
func (s *Store) tryCommit(batch []*op) (results []error, broken int, err error) {
	results = make([]error, len(batch))
	broken = -1
	var (
		st state
		ev events
	)
	err = s.update(func(tx *bolt.Tx) error {
		st, ev = s.st, events{}
		for i, o := range batch {
			err := s.apply(tx, &st, &ev, o)
			if err != nil && !errors.Is(err, crypto.ErrCollision) && err != errStoreShut {
				broken = i
				return err
			}
			results[i] = err
		}
		return tx.Bucket(bucketMeta).Put(metaState, st.encode())
	})
	if err == nil {
		s.publish(st, ev)
		s.commits.Add(1)
	}
	return results, broken, err
}

// cachePutBytes is the room a batch's cache puts need. A full disk gives the cache's room
// only to the cache (spec §8.4): a block to be stored takes none of it, or the store would
// take it all, block by block, and the cache of a node whose disk is full would stop turning
// over; the block is refused instead, and the network keeps it at the nodes nearest its key
// that can (spec §18.4).
func cachePutBytes(batch []*op) int64 {
	var n int64
	for _, o := range batch {
		if o.put && o.area == AreaCache {
			n += blockSize(o.kt)
		}
	}
	return n
}

// freeCacheForDisk makes room on a full disk for a cache put (spec §8.4): it evicts from the
// cache, by its own CLOCK, what the write needs and at least diskFullEvict bytes of blocks (or
// half what it holds, if that is less), and commits that alone. The cache's bound then comes
// down to what it holds with the write (roomBound), until the disk has room again: the puts
// that follow evict in their own transactions, as at any bound, and the rest of the room
// freed stays free for those transactions' own pages. What the store holds is never evicted
// for lack of disk.
//
// Evicting needs free pages too: bbolt copies on write, so deleting a record rewrites its leaf
// and the pages above it, and with no free run long enough it grows the file into the full
// disk. If the eviction cannot commit for that, or the cache is empty, the reserve file
// (Options.ReserveBytes) is given up, once: its room lets the eviction commit, or the write
// itself, and the cache's bound grows by half the reserve, the other half left free. It
// reports whether the write is worth trying again.
func (s *Store) freeCacheForDisk(need int64) bool {
	if need <= 0 {
		return false
	}
	free := max(need, min(diskFullEvict, s.st.cache.bytes/2))
	if s.st.cache.blocks > 0 {
		ok, err := s.evictForDisk(free)
		if ok || !errors.Is(err, ErrDiskFull) {
			if ok {
				s.roomBound = s.st.cache.bytes + need
			}
			return ok
		}
	}
	if !s.dropReserve() {
		return false
	}
	if s.st.cache.blocks > 0 {
		s.evictForDisk(free) // with the reserve's room; the write is worth trying either way
	}
	s.roomBound = s.st.cache.bytes + need + s.reserveBytes/2
	return true
}

// diskFullEvict is what a full disk makes a large cache give up at once: enough whole leaves
// of records, which the cache ring frees in sequence, that the freed pages hold runs long
// enough for the next writes and for the next eviction's own rewrites.
const diskFullEvict = 1 << 20

// evictForDisk evicts free bytes of cached blocks in one transaction.
func (s *Store) evictForDisk(free int64) (bool, error) {
	var (
		st state
		ev events
	)
	err := s.update(func(tx *bolt.Tx) error {
		st, ev = s.st, events{}
		if err := s.makeRoomInCacheWithin(tx, &st, &ev, min(free, st.cache.bytes), st.cache.bytes, 0); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(metaState, st.encode())
	})
	if err != nil || ev.evictions == 0 {
		return false, err
	}
	s.publish(st, ev)
	s.commits.Add(1)
	s.log.Warn("datastore: disk full; evicted from the cache to make room", "path", s.path, "blocks", ev.evictions)
	return true, nil
}

// update runs a write transaction and classifies its failure.
func (s *Store) update(fn func(*bolt.Tx) error) error {
	return classify(s.db.Update(fn))
}

// publish makes a committed state visible to Stats and adds the transaction's events.
func (s *Store) publish(st state, ev events) {
	s.st = st
	s.mu.Lock()
	s.pub = st
	s.mu.Unlock()
	s.puts.Add(ev.puts)
	s.evictions.Add(ev.evictions)
	s.rejected.Add(ev.rejected)
	s.damaged.Add(ev.damaged)
}

// apply makes one op's change inside the writer's transaction. It returns ErrCollision (with
// nothing changed) for a refused SSK block, errStoreShut for a block the store area cannot
// take on a full disk (shutStore); any other error spoils the transaction.
func (s *Store) apply(tx *bolt.Tx, st *state, ev *events, o *op) error {
	sl := makeSlot(o.kt, o.key)
	e, found, err := lookup(tx, sl)
	if err != nil {
		return err
	}
	if !o.put {
		if found && e.seq == o.seq {
			return s.removeEntry(tx, st, sl, o.rk, e)
		}
		return nil // already gone or replaced
	}
	if found && o.kt == crypto.SSK {
		existing, err := s.read(tx, o.kt, o.rk, o.key, e)
		if err != nil {
			// The copy held is damaged: replace it with the verified newcomer.
			s.log.Warn("datastore: replacing a damaged block", "type", o.kt, "key", o.rk, "err", err)
			ev.damaged++
			if err := s.removeEntry(tx, st, sl, o.rk, e); err != nil {
				return err
			}
			found = false
		} else if err := crypto.CheckSSKCollision(existing, o.block); err != nil {
			return err
		}
	}
	switch {
	case (!found || e.area == AreaCache) && o.area == AreaStore && s.shutUntil.Load() != 0:
		if found {
			s.refs.set(e.seq) // stays cached; it was wanted again
		}
		return errStoreShut
	case !found:
		return s.insert(tx, st, ev, sl, o)
	case e.area == AreaCache && o.area == AreaStore:
		return s.promote(tx, st, ev, sl, o.rk, e)
	case e.area == AreaCache:
		s.refs.set(e.seq)
	}
	return nil
}

// insert files a new record in an area, evicting first to make room.
func (s *Store) insert(tx *bolt.Tx, st *state, ev *events, sl slot, o *op) error {
	n := blockSize(o.kt)
	loc := coarseLocation(o.rk)
	switch o.area {
	case AreaStore:
		ok, err := s.makeRoomInStore(tx, st, ev, n, loc)
		if err != nil || !ok {
			return err
		}
	case AreaCache:
		if n > s.bounds[AreaCache] {
			ev.rejected++
			return nil
		}
		if err := s.makeRoomInCache(tx, st, ev, n, 0); err != nil {
			return err
		}
	}
	seq := st.nextSeq
	st.nextSeq++
	data := tx.Bucket(bucketData)
	data.FillPercent = 1 // records are appended in sequence order: fill leaves completely
	if err := data.Put(seqKey(seq), o.value); err != nil {
		return err
	}
	if err := tx.Bucket(bucketKeys).Put(sl[:], entry{seq: seq, area: o.area}.encode()); err != nil {
		return err
	}
	if o.area == AreaStore {
		if err := tx.Bucket(bucketStore).Put(indexKey(loc, seq), sl[:]); err != nil {
			return err
		}
	} else {
		ring := tx.Bucket(bucketCache)
		ring.FillPercent = 1
		if err := ring.Put(seqKey(seq), ringEntry{slot: sl}.encode()); err != nil {
			return err
		}
		s.refs.clear(seq)
	}
	c := st.count(o.area)
	c.blocks++
	c.bytes += n
	ev.puts++
	return nil
}

// promote moves a cached block into the store area, if the store admits it; the record itself
// stays where it is, only the indexes change.
func (s *Store) promote(tx *bolt.Tx, st *state, ev *events, sl slot, rk crypto.RoutingKey, e entry) error {
	n := blockSize(sl.keyType())
	loc := coarseLocation(rk)
	ok, err := s.makeRoomInStore(tx, st, ev, n, loc)
	if err != nil {
		return err
	}
	if !ok {
		s.refs.set(e.seq) // stays cached; it was wanted again
		return nil
	}
	if err := s.unlinkCached(tx, st, sl, e.seq); err != nil {
		return err
	}
	if err := tx.Bucket(bucketStore).Put(indexKey(loc, e.seq), sl[:]); err != nil {
		return err
	}
	if err := tx.Bucket(bucketKeys).Put(sl[:], entry{seq: e.seq, area: AreaStore}.encode()); err != nil {
		return err
	}
	st.store.blocks++
	st.store.bytes += n
	ev.puts++
	return nil
}

// unlinkCached takes a record out of the cache ring and the cache's accounting.
func (s *Store) unlinkCached(tx *bolt.Tx, st *state, sl slot, seq uint64) error {
	ring := tx.Bucket(bucketCache)
	k := seqKey(seq)
	re, err := parseRingEntry(ring.Get(k))
	if err != nil {
		return fmt.Errorf("%w: cache record %d: %v", ErrCorrupt, seq, err)
	}
	if re.slot != sl {
		return fmt.Errorf("%w: cache ring entry %d names another block", ErrCorrupt, seq)
	}
	if err := ring.Delete(k); err != nil {
		return err
	}
	n := blockSize(sl.keyType())
	st.cache.blocks--
	st.cache.bytes -= n
	if re.protected {
		st.protected -= n
	}
	return nil
}

// removeEntry deletes a block whose routing key is known, from whichever area holds it.
func (s *Store) removeEntry(tx *bolt.Tx, st *state, sl slot, rk crypto.RoutingKey, e entry) error {
	if e.area == AreaCache {
		if err := s.unlinkCached(tx, st, sl, e.seq); err != nil {
			return err
		}
	} else {
		idx := tx.Bucket(bucketStore)
		k := indexKey(coarseLocation(rk), e.seq)
		if v := idx.Get(k); v == nil || !bytes.Equal(v, sl[:]) {
			return fmt.Errorf("%w: store record %d is missing from the store index", ErrCorrupt, e.seq)
		}
		if err := idx.Delete(k); err != nil {
			return err
		}
		st.store.blocks--
		st.store.bytes -= blockSize(sl.keyType())
	}
	return deleteRecord(tx, sl, e.seq)
}

// deleteRecord deletes a record and its keys entry; the caller has unlinked it from its area.
func deleteRecord(tx *bolt.Tx, sl slot, seq uint64) error {
	if err := tx.Bucket(bucketData).Delete(seqKey(seq)); err != nil {
		return err
	}
	return tx.Bucket(bucketKeys).Delete(sl[:])
}
