package datastore

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"lethe/crypto"
)

// blockType maps a key type to the type its blocks are stored as: KSK and USK blocks are SSK
// blocks (spec §5).
func blockType(kt crypto.KeyType) (crypto.KeyType, error) {
	switch kt {
	case crypto.CHK:
		return crypto.CHK, nil
	case crypto.SSK, crypto.KSK, crypto.USK:
		return crypto.SSK, nil
	}
	return 0, fmt.Errorf("key type %d has no blocks", kt)
}

func verify(kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	if kt == crypto.CHK {
		return crypto.VerifyCHK(rk, block)
	}
	return crypto.VerifySSK(rk, block)
}

// checkBlock verifies a block against its routing key, or, for a block its caller verified
// (full false), checks only its size, which the record's format relies on.
func checkBlock(kt crypto.KeyType, rk crypto.RoutingKey, block []byte, full bool) error {
	if full {
		return verify(kt, rk, block)
	}
	want := crypto.CHKBlockSize
	if kt == crypto.SSK {
		want = crypto.SSKBlockSize
	}
	if len(block) != want {
		return fmt.Errorf("%w: %v block is %d bytes, want %d", crypto.ErrMalformed, kt, len(block), want)
	}
	return nil
}

// Put stores a block in an area after verifying it against its routing key; a block that
// does not verify is refused with an error wrapping crypto.ErrVerify or crypto.ErrMalformed.
//
// A block is held once whichever area it is in: putting a cached block into the store
// promotes it, and putting a stored block into the cache changes nothing. A different block
// under an SSK routing key that already holds one is refused with an error wrapping
// crypto.ErrCollision; the existing block stays (spec §4.3).
//
// Put returns nil when the store has applied its policy, which does not always mean the
// block is kept: into a full store area, a block no closer to the node's location than the
// blocks it would displace is not kept (it would be the first evicted), and a disabled area
// keeps nothing. Stats counts these as Rejected. Put returns once the block is committed to
// disk, sharing the commit with the puts that queued meanwhile.
func (s *Store) Put(kt crypto.KeyType, rk crypto.RoutingKey, block []byte, area Area) error {
	commit := CommitAtOnce
	if area == AreaCache {
		commit = CommitShared
	}
	return s.putChecked(kt, rk, block, area, commit, true)
}

// PutVerified is Put for a block its caller has just verified against rk with
// crypto.VerifyCHK or crypto.VerifySSK (the router verifies every block a peer sends before
// it goes anywhere, spec §18.4): the store does not hash it a second time. Everything else is
// as for Put, and Get still verifies what it reads back, so a block damaged on disk is never
// served whoever put it. The caller says how soon the commit must come, in either area: a
// node's tail copies go into the store with a shared commit (spec §8.4).
func (s *Store) PutVerified(kt crypto.KeyType, rk crypto.RoutingKey, block []byte, area Area, commit Commit) error {
	return s.putChecked(kt, rk, block, area, commit, false)
}

func (s *Store) putChecked(kt crypto.KeyType, rk crypto.RoutingKey, block []byte, area Area, commit Commit, check bool) error {
	if err := s.put(kt, rk, block, area, commit, check); err != nil {
		return fmt.Errorf("datastore: put %v %v in %v: %w", kt, rk.LogValue(), area, err)
	}
	return nil
}

func (s *Store) put(kt crypto.KeyType, rk crypto.RoutingKey, block []byte, area Area, commit Commit, check bool) error {
	kt, err := blockType(kt)
	if err != nil {
		return err
	}
	if !area.valid() {
		return fmt.Errorf("no area %d", area)
	}
	if err := checkBlock(kt, rk, block, check); err != nil {
		return err
	}
	d := s.keys.dbKey(kt, rk)
	if err := s.enter(); err != nil {
		return err
	}
	defer s.inflight.Done()
	if blockSize(kt) > s.bounds[area] {
		// An area too small for the block, or disabled (a node that keeps no cache): the
		// writer would refuse it too, after a seal and a commit (two fdatasyncs) that change
		// nothing but the count. A promotion into such a store is refused the same way.
		s.rejected.Add(1)
		return nil
	}

	// Most repeated puts need no write: the block is held already. Find that out in a read
	// transaction before sealing and queueing.
	var held bool
	err = s.view(func(tx *bolt.Tx) error {
		h, err := s.held(tx, kt, rk, d, block, area)
		held = h
		return err
	})
	if held || err != nil {
		return err
	}
	if area == AreaStore && time.Now().UnixNano() < s.shutUntil.Load() {
		// The store area is shut on a full disk, and the writer is not to look for room yet:
		// refused before a seal and a commit that would change nothing but the count.
		s.refusedForDisk()
		return errStoreShut
	}
	value, err := s.keys.seal(s.rand, kt, rk, d, block)
	if err != nil {
		return err
	}
	o := &op{put: true, kt: kt, rk: rk, key: d, area: area, wait: commit == CommitShared, block: block, value: value, done: make(chan error, 1)}
	s.ops <- o
	return <-o.done
}

// held reports whether a put of block needs no write: the block is there already, in the same
// area or in the store. It returns ErrCollision for a different SSK block. A record that is
// damaged is not held: the writer replaces it.
func (s *Store) held(tx *bolt.Tx, kt crypto.KeyType, rk crypto.RoutingKey, d dbKey, block []byte, area Area) (bool, error) {
	e, found, err := lookup(tx, makeSlot(kt, d))
	if !found || err != nil {
		return false, nil
	}
	if kt == crypto.SSK {
		existing, err := s.read(tx, kt, rk, d, e)
		if err != nil {
			return false, nil
		}
		if err := crypto.CheckSSKCollision(existing, block); err != nil {
			return true, err
		}
	}
	if e.area == AreaCache && area == AreaStore {
		return false, nil // a promotion
	}
	if e.area == AreaCache {
		s.refs.set(e.seq) // seen again: a sign of popularity
	}
	return true, nil
}

// Get returns the block stored under a routing key. The block is read, unsealed and verified
// against the routing key before it is returned, so a damaged file never serves a bad block:
// a block that fails is removed, logged, and reported as ErrNotFound. The caller owns the
// returned slice.
func (s *Store) Get(kt crypto.KeyType, rk crypto.RoutingKey) ([]byte, error) {
	block, err := s.get(kt, rk)
	if err != nil {
		return nil, fmt.Errorf("datastore: get %v %v: %w", kt, rk.LogValue(), err)
	}
	return block, nil
}

func (s *Store) get(kt crypto.KeyType, rk crypto.RoutingKey) ([]byte, error) {
	kt, err := blockType(kt)
	if err != nil {
		return nil, err
	}
	d := s.keys.dbKey(kt, rk)
	var (
		block []byte
		e     entry
		found bool
	)
	err = s.view(func(tx *bolt.Tx) error {
		e, found, err = lookup(tx, makeSlot(kt, d))
		if !found || err != nil {
			return err
		}
		block, err = s.read(tx, kt, rk, d, e)
		return err
	})
	switch {
	case err == nil && !found:
		s.misses.Add(1)
		return nil, ErrNotFound
	case errors.Is(err, errFormat):
		s.misses.Add(1)
		s.damaged.Add(1)
		s.log.Warn("datastore: removing a damaged block", "type", kt, "key", rk, "seq", e.seq, "err", err)
		if rerr := s.remove(kt, rk, d, e.seq); rerr != nil {
			return nil, fmt.Errorf("%w (damaged copy found; removing it failed: %w)", ErrNotFound, rerr)
		}
		return nil, fmt.Errorf("%w (a damaged copy was found and removed: %v)", ErrNotFound, err)
	case err != nil:
		return nil, err
	}
	if e.area == AreaCache {
		s.refs.set(e.seq)
	}
	s.hits.Add(1)
	return block, nil
}

// Has reports whether the store holds a block under the routing key, without reading it.
func (s *Store) Has(kt crypto.KeyType, rk crypto.RoutingKey) bool {
	kt, err := blockType(kt)
	if err != nil {
		return false
	}
	d := s.keys.dbKey(kt, rk)
	var found bool
	s.view(func(tx *bolt.Tx) error {
		_, found, err = lookup(tx, makeSlot(kt, d))
		return nil
	})
	return found
}

// lookup finds a block's entry in the keys bucket.
func lookup(tx *bolt.Tx, sl slot) (entry, bool, error) {
	v := tx.Bucket(bucketKeys).Get(sl[:])
	if v == nil {
		return entry{}, false, nil
	}
	e, err := parseEntry(v)
	if err != nil {
		return entry{}, true, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return e, true, nil
}

// read unseals and verifies the block an entry points at. Every failure wraps errFormat: the
// record is damaged (or was made for another key, which is damage too).
func (s *Store) read(tx *bolt.Tx, kt crypto.KeyType, rk crypto.RoutingKey, d dbKey, e entry) ([]byte, error) {
	v := tx.Bucket(bucketData).Get(seqKey(e.seq))
	if v == nil {
		return nil, fmt.Errorf("%w: entry points at record %d, which is missing", errFormat, e.seq)
	}
	return s.keys.unseal(kt, rk, d, v)
}

// unseal turns a record's bytes, whatever they are, into the verified block of (kt, rk) or an
// error wrapping errFormat: the record must parse, name the block's type and database key,
// open under the block's seal key, and the block must verify against rk.
func (k *keyer) unseal(kt crypto.KeyType, rk crypto.RoutingKey, d dbKey, v []byte) ([]byte, error) {
	r, err := parseRecord(v)
	if err != nil {
		return nil, err
	}
	if r.kt != kt || r.key != d {
		return nil, fmt.Errorf("%w: the record belongs to another key", errFormat)
	}
	block, err := k.open(rk, v, r)
	if err != nil {
		return nil, err
	}
	if err := verify(kt, rk, block); err != nil {
		return nil, fmt.Errorf("%w: unsealed block does not verify: %v", errFormat, err)
	}
	return block, nil
}

// remove deletes a damaged block found by Get, if the same record is still there.
func (s *Store) remove(kt crypto.KeyType, rk crypto.RoutingKey, d dbKey, seq uint64) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.inflight.Done()
	o := &op{kt: kt, rk: rk, key: d, seq: seq, done: make(chan error, 1)}
	s.ops <- o
	return <-o.done
}

// view runs a read transaction, reporting a closed store as ErrClosed and a panic inside
// bbolt (which it raises on some damaged pages) as ErrCorrupt, so that one bad page is an
// error for one get rather than the end of the node.
func (s *Store) view(fn func(*bolt.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: bbolt: %v", ErrCorrupt, p)
		}
	}()
	return classify(s.db.View(fn))
}
