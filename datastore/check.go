package datastore

import (
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// maxFindings is how many problems Check lists; it counts them all.
const maxFindings = 20

// Check verifies the whole store in one transaction (puts wait meanwhile) and returns
// nil, or an error wrapping ErrCorrupt that lists what is wrong. It checks bbolt's pages;
// every record's structure and CRC; that the keys bucket, the cache ring and the store index
// point at each other consistently, each record in exactly one area; that the accounted
// sizes equal the sums of what is there; and that both areas are within their bounds.
//
// What it cannot check is a block against its routing key: the store does not know routing
// keys (that is the point of it). Get checks that, on every block it serves.
func (s *Store) Check() error {
	f := &findings{}
	if err := s.checkInTx(f); err != nil {
		return fmt.Errorf("datastore: check %q: %w", s.path, err)
	}
	return f.err(s.path)
}

// checkInTx runs the check in a write transaction that it rolls back: bbolt's own page check
// is safe beside the writer only that way (in a read transaction it races with commits on the
// freelist). Puts wait while it runs.
func (s *Store) checkInTx(f *findings) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: bbolt: %v", ErrCorrupt, p)
		}
	}()
	tx, err := s.db.Begin(true)
	if err != nil {
		return classify(err)
	}
	defer tx.Rollback()
	for err := range tx.Check() { // drain it all: bbolt's checker goroutine waits on us
		f.addBeyondRepair("bbolt: %v", err)
	}
	for _, name := range allBuckets {
		if tx.Bucket(name) == nil {
			f.addBeyondRepair("bucket %q missing", name)
			return nil
		}
	}
	s.checkTx(tx, f)
	return nil
}

// tally counts the blocks of one area, with a sum of mixed sequence numbers: two walks that
// see the same set of records get the same sum, so a record listed twice in one index and
// missing from it elsewhere does not hide behind equal counts.
type tally struct {
	blocks, bytes int64
	sum           uint64
}

func (t *tally) count(seq uint64, size int64) {
	t.blocks++
	t.bytes += size
	t.sum += mix64(seq)
}

func (s *Store) checkTx(tx *bolt.Tx, f *findings) {
	st, err := parseState(tx.Bucket(bucketMeta).Get(metaState))
	if err != nil {
		f.add("%v", err)
	}
	if salt := tx.Bucket(bucketMeta).Get(metaSalt); len(salt) != saltSize {
		f.addBeyondRepair("salt is %d bytes, want %d", len(salt), saltSize)
	}

	// Records, each with a keys entry pointing back at it, tallied by the area it names.
	var byEntry [3]tally
	var records int64
	var maxSeq uint64
	tx.Bucket(bucketData).ForEach(func(k, v []byte) error {
		seq, err := parseSeqKey(k)
		if err != nil {
			f.add("data: %v", err)
			return nil
		}
		maxSeq = max(maxSeq, seq)
		records++
		r, err := parseRecord(v)
		if err != nil {
			f.add("record %d: %v", seq, err)
			return nil
		}
		if err := checkCRC(v); err != nil {
			f.add("record %d: %v", seq, err)
		}
		e, found, err := lookup(tx, makeSlot(r.kt, r.key))
		switch {
		case err != nil:
			f.add("record %d: %v", seq, err)
		case !found:
			f.add("record %d has no keys entry", seq)
		case e.seq != seq:
			f.add("record %d: its keys entry points at record %d", seq, e.seq)
		default:
			byEntry[e.area].count(seq, blockSize(r.kt))
		}
		return nil
	})

	var entries int64
	tx.Bucket(bucketKeys).ForEach(func(k, v []byte) error {
		entries++
		if _, err := parseEntry(v); err != nil {
			f.add("keys: %v", err)
		}
		return nil
	})
	if entries != records {
		f.add("%d keys entries for %d records", entries, records)
	}

	// The cache ring and the store index, each entry naming a record of its own area.
	var ring, index tally
	var protected int64
	tx.Bucket(bucketCache).ForEach(func(k, v []byte) error {
		seq, err := parseSeqKey(k)
		if err != nil {
			f.add("cache ring: %v", err)
			return nil
		}
		re, err := parseRingEntry(v)
		if err != nil {
			f.add("cache ring entry %d: %v", seq, err)
			return nil
		}
		if checkIndexed(tx, f, AreaCache, re.slot, seq) {
			size := blockSize(re.slot.keyType())
			ring.count(seq, size)
			if re.protected {
				protected += size
			}
		}
		return nil
	})
	tx.Bucket(bucketStore).ForEach(func(k, v []byte) error {
		_, seq, err := parseIndexKey(k)
		if err != nil {
			f.add("store index: %v", err)
			return nil
		}
		sl, err := parseSlot(v)
		if err != nil {
			f.add("store index entry %d: %v", seq, err)
			return nil
		}
		if checkIndexed(tx, f, AreaStore, sl, seq) {
			index.count(seq, blockSize(sl.keyType()))
		}
		return nil
	})

	if ring != byEntry[AreaCache] {
		f.add("cache ring holds %d blocks (%d bytes) but %d records are cached (%d bytes)",
			ring.blocks, ring.bytes, byEntry[AreaCache].blocks, byEntry[AreaCache].bytes)
	}
	if index != byEntry[AreaStore] {
		f.add("store index holds %d blocks (%d bytes) but %d records are stored (%d bytes)",
			index.blocks, index.bytes, byEntry[AreaStore].blocks, byEntry[AreaStore].bytes)
	}
	for _, a := range []Area{AreaStore, AreaCache} {
		got, want := st.count(a), byEntry[a]
		if got.blocks != want.blocks || got.bytes != want.bytes {
			f.add("%v accounts %d blocks (%d bytes), holds %d (%d bytes)", a, got.blocks, got.bytes, want.blocks, want.bytes)
		}
		if b := max(s.bounds[a], 0); got.bytes > b && !s.inspect {
			f.add("%v holds %d bytes, over its bound of %d", a, got.bytes, b)
		}
	}
	if st.protected != protected {
		f.add("cache accounts %d protected bytes, holds %d", st.protected, protected)
	}
	if st.nextSeq <= maxSeq {
		f.add("next sequence number %d is not past the last record %d", st.nextSeq, maxSeq)
	}
}

// checkIndexed checks that an index entry of an area names a record whose keys entry agrees.
func checkIndexed(tx *bolt.Tx, f *findings, a Area, sl slot, seq uint64) bool {
	e, found, err := lookup(tx, sl)
	switch {
	case err != nil:
		f.add("%v index entry %d: %v", a, seq, err)
	case !found:
		f.add("%v index entry %d names a block with no keys entry", a, seq)
	case e.seq != seq || e.area != a:
		f.add("%v index entry %d names a block whose keys entry says %v record %d", a, seq, e.area, e.seq)
	case tx.Bucket(bucketData).Get(seqKey(seq)) == nil:
		f.add("%v index entry %d names a missing record", a, seq)
	default:
		return true
	}
	return false
}

// findings collects what Check finds wrong.
type findings struct {
	list  []string
	total int
	// beyondRepair is the first finding RepairFile cannot mend: damaged pages, a lost
	// bucket or salt.
	beyondRepair string
}

func (f *findings) addBeyondRepair(format string, args ...any) {
	if f.beyondRepair == "" {
		f.beyondRepair = fmt.Sprintf(format, args...)
	}
	f.add(format, args...)
}

func (f *findings) add(format string, args ...any) {
	f.total++
	if len(f.list) < maxFindings {
		f.list = append(f.list, fmt.Sprintf(format, args...))
	}
}

func (f *findings) err(path string) error {
	if f.total == 0 {
		return nil
	}
	more := ""
	if f.total > len(f.list) {
		more = fmt.Sprintf("\n  … and %d more", f.total-len(f.list))
	}
	err := fmt.Errorf("datastore: check %q: %w: %d problems:\n  %s%s", path, ErrCorrupt, f.total, strings.Join(f.list, "\n  "), more)
	if f.beyondRepair != "" {
		err = fmt.Errorf("%w\n(%w)", err, ErrBeyondRepair)
	}
	return err
}
