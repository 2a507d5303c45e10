package datastore

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The operator's check and repair of a stopped node's store (spec §8.7).

// ErrBeyondRepair: CheckFile or RepairFile found damage repair cannot mend (bbolt's pages, a
// lost bucket or the salt, without which no record can be read); it comes with ErrCorrupt. The remedy is to move the file away: the
// node then starts an empty store, and the network holds other copies of its blocks.
var ErrBeyondRepair = errors.New("the store is beyond repair: move it away and the node starts an empty one")

// CheckFile opens the store at path on its own, checks it as Check does (except for the
// bounds, which the node enforces when it opens the store), and closes it, changing nothing.
// It fails with ErrLocked when another process (a running node) has the file open: set
// opts.LockTimeout short to be told at once. Only LockTimeout and Logger of opts are used.
// The figures returned are those the store accounts.
func CheckFile(path string, opts Options) (Stats, error) {
	s, err := openInspect(path, opts)
	if err != nil {
		return Stats{}, err
	}
	defer s.Close()
	return s.Stats(), s.Check()
}

// RepairReport says what RepairFile did.
type RepairReport struct {
	// Dropped counts the records removed: those that fail their structure or CRC check, and
	// those no index places in an area (a stored block's place in the store index depends on
	// its routing key, which the store does not know, so a lost store-index entry cannot be
	// made again). Their blocks are gone from this node; the network holds other copies.
	Dropped int
	// Reindexed counts the keys entries, store-index entries and cache-ring entries removed
	// or made again so that the indexes agree with the records kept.
	Reindexed int
	// Recounted says the accounted sizes and sequence number were rebuilt from the records.
	Recounted bool
	// After is the store's figures once repaired.
	After Stats
}

// RepairFile opens the store at path on its own, as CheckFile does, and makes it whole again
// in one transaction: it drops the records that fail verification, makes the keys bucket, the
// cache ring and the store index agree with the records kept, and rebuilds the accounted
// sizes. Then it checks the result. A store whose bbolt pages or meta bucket are damaged
// cannot be repaired (ErrCorrupt): without its salt no record can be read again, so the
// remedy is to move store.db away and let the node start an empty one.
func RepairFile(path string, opts Options) (RepairReport, error) {
	s, err := openInspect(path, opts)
	if err != nil {
		return RepairReport{}, err
	}
	defer s.Close()
	var rep RepairReport
	f := &findings{}
	if err := s.checkInTx(f); err != nil {
		return rep, fmt.Errorf("datastore: repair %q: %w", path, err)
	}
	if f.beyondRepair != "" {
		return rep, fmt.Errorf("datastore: repair %q: %w: %s, which repair cannot mend (%w)", path, ErrCorrupt, f.beyondRepair, ErrBeyondRepair)
	}
	if f.total == 0 {
		rep.After = s.Stats()
		return rep, nil
	}
	err = s.db.Update(func(tx *bolt.Tx) error { return s.repairTx(tx, &rep) })
	if err != nil {
		return rep, fmt.Errorf("datastore: repair %q: %w", path, classify(err))
	}
	rep.After = s.Stats()
	return rep, s.Check()
}

// openInspect opens the store at path on its own for CheckFile and RepairFile. A store too
// damaged to open (ErrCorrupt) is beyond repair as well.
func openInspect(path string, opts Options) (*Store, error) {
	opts.inspect = true
	opts.StoreBytes, opts.CacheBytes, opts.ReserveBytes = 0, 0, -1
	s, err := Open(path, opts)
	if errors.Is(err, ErrCorrupt) {
		return nil, fmt.Errorf("%w (%w)", err, ErrBeyondRepair)
	}
	return s, err
}

// kept is a record repair keeps, with the area it goes to.
type kept struct {
	sl        slot
	area      Area
	loc       uint16 // its store-index location, for the store area
	protected bool   // its cache-ring flag, for the cache area
}

// repairTx rebuilds the three indexes and the state from the data records. A record keeps
// the area its keys entry gives it when that area's index names it too; a record whose keys
// entry is lost keeps the area an index names it in; a cached record whose ring entry is
// lost gets a new one; anything else is dropped.
func (s *Store) repairTx(tx *bolt.Tx, rep *RepairReport) error {
	data, keys := tx.Bucket(bucketData), tx.Bucket(bucketKeys)
	ringOf := map[uint64]ringEntry{} // sequence → ring entry
	tx.Bucket(bucketCache).ForEach(func(k, v []byte) error {
		seq, err1 := parseSeqKey(k)
		re, err2 := parseRingEntry(v)
		if err1 == nil && err2 == nil {
			ringOf[seq] = re
		}
		return nil
	})
	type place struct {
		loc uint16
		sl  slot
	}
	indexOf := map[uint64]place{} // sequence → store-index entry
	tx.Bucket(bucketStore).ForEach(func(k, v []byte) error {
		loc, seq, err1 := parseIndexKey(k)
		sl, err2 := parseSlot(v)
		if _, dup := indexOf[seq]; err1 == nil && err2 == nil && !dup {
			indexOf[seq] = place{loc, sl}
		}
		return nil
	})

	keep := map[uint64]kept{}
	owner := map[slot]uint64{} // slot → the sequence that holds it
	var drop [][]byte
	var maxSeq uint64
	err := data.ForEach(func(k, v []byte) error {
		seq, err := parseSeqKey(k)
		if err != nil {
			drop = append(drop, k)
			return nil
		}
		maxSeq = max(maxSeq, seq)
		r, err := parseRecord(v)
		if err == nil {
			err = checkCRC(v)
		}
		if err != nil {
			drop = append(drop, k)
			return nil
		}
		sl := makeSlot(r.kt, r.key)
		e, found, _ := lookup(tx, sl)
		re, inRing := ringOf[seq]
		inRing = inRing && re.slot == sl
		ix, inIndex := indexOf[seq]
		inIndex = inIndex && ix.sl == sl
		var kp kept
		switch {
		case found && e.seq == seq && e.area == AreaStore && inIndex,
			!(found && e.seq == seq) && inIndex && !inRing:
			kp = kept{sl: sl, area: AreaStore, loc: ix.loc}
		case found && e.seq == seq && e.area == AreaCache,
			!(found && e.seq == seq) && inRing && !inIndex:
			kp = kept{sl: sl, area: AreaCache, protected: inRing && re.protected}
		default:
			drop = append(drop, k)
			return nil
		}
		if other, dup := owner[sl]; dup { // two records of one block: keep the one indexed
			if found && e.seq == other {
				drop = append(drop, k)
				return nil
			}
			delete(keep, other)
			drop = append(drop, seqKey(other))
		}
		owner[sl] = seq
		keep[seq] = kp
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range drop {
		if err := data.Delete(k); err != nil {
			return err
		}
		rep.Dropped++
	}

	// The indexes, rewritten to name exactly the records kept; each entry that differs
	// from what was there counts as reindexed.
	st, stErr := parseState(tx.Bucket(bucketMeta).Get(metaState))
	fresh := state{nextSeq: max(st.nextSeq, maxSeq+1), hand: st.hand}
	want := map[string][]byte{}
	for seq, kp := range keep {
		want["k"+string(kp.sl[:])] = entry{seq: seq, area: kp.area}.encode()
		size := blockSize(kp.sl.keyType())
		c := fresh.count(kp.area)
		c.blocks++
		c.bytes += size
		if kp.area == AreaStore {
			want["s"+string(indexKey(kp.loc, seq))] = kp.sl[:]
		} else {
			want["c"+string(seqKey(seq))] = ringEntry{protected: kp.protected, slot: kp.sl}.encode()
			if kp.protected {
				fresh.protected += size
			}
		}
	}
	for _, b := range []struct {
		prefix string
		bucket *bolt.Bucket
	}{{"k", keys}, {"s", tx.Bucket(bucketStore)}, {"c", tx.Bucket(bucketCache)}} {
		var stale [][]byte
		b.bucket.ForEach(func(k, v []byte) error {
			if w, ok := want[b.prefix+string(k)]; !ok || string(w) != string(v) {
				stale = append(stale, k)
			}
			return nil
		})
		for _, k := range stale {
			if err := b.bucket.Delete(k); err != nil {
				return err
			}
			rep.Reindexed++
		}
	}
	for key, v := range want {
		b := map[byte]*bolt.Bucket{'k': keys, 's': tx.Bucket(bucketStore), 'c': tx.Bucket(bucketCache)}[key[0]]
		k := []byte(key[1:])
		if string(b.Get(k)) == string(v) {
			continue
		}
		if err := b.Put(k, v); err != nil {
			return err
		}
		rep.Reindexed++
	}
	if stErr != nil || fresh != st {
		rep.Recounted = true
		if err := tx.Bucket(bucketMeta).Put(metaState, fresh.encode()); err != nil {
			return err
		}
	}
	s.st = fresh
	s.mu.Lock()
	s.pub = fresh
	s.mu.Unlock()
	return nil
}
