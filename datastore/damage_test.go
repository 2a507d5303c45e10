package datastore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// recordBytes returns a copy of the sealed record of a block, as it is in the file.
func recordBytes(t *testing.T, s *Store, b testBlock) []byte {
	t.Helper()
	var v []byte
	err := s.view(func(tx *bolt.Tx) error {
		e, found, err := lookup(tx, makeSlot(b.kt, s.keys.dbKey(b.kt, b.rk)))
		if err != nil || !found {
			t.Fatalf("lookup: %v %v", found, err)
		}
		v = bytes.Clone(tx.Bucket(bucketData).Get(seqKey(e.seq)))
		return nil
	})
	if err != nil || v == nil {
		t.Fatalf("record: %v", err)
	}
	return v
}

// damageFile flips the record's byte at off wherever the record is in the file: in its live
// page and in any stale copy bbolt's copy-on-write left in a free page.
func damageFile(t *testing.T, path string, record []byte, off int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	probe := record[off : off+48]
	found := 0
	for at := 0; ; {
		i := bytes.Index(data[at:], probe)
		if i < 0 {
			break
		}
		data[at+i] ^= 0x01
		at += i + 1
		found++
	}
	if found == 0 {
		t.Fatal("record bytes not found in the file")
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// recordDamage is a way a record's bytes are damaged in the tests: a byte flipped at off of
// the record of the victim-th block that storeWithDamagedRecord puts.
type recordDamage struct {
	name   string
	off    int
	victim int // even: a stored block, odd: a cached one
}

var recordDamages = []recordDamage{
	{"in the ciphertext of a cached block", recordHeaderSize + 1000, 1},
	{"in the ciphertext of a stored block", recordHeaderSize + 1000, 2},
	{"in the tag", -tagSize, 1},
	{"in the nonce", recordOffNonce, 2},
	{"in the database key", recordOffKey, 1},
}

// A damaged record is found by Check, never served by Get (which removes it), and the store
// is whole again afterwards.
func TestDamagedRecordIsNeverServed(t *testing.T) {
	for _, tc := range recordDamages {
		t.Run(tc.name, func(t *testing.T) {
			path, blocks := storeWithDamagedRecord(t, tc)
			victim := blocks[tc.victim]
			s := openAt(t, path, Options{})
			err := s.Check()
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "CRC") && tc.off != recordOffKey {
				t.Fatalf("Check of a damaged record: %v", err)
			}
			if _, err := s.Get(victim.kt, victim.rk); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get of a damaged block: %v, want ErrNotFound", err)
			}
			if st := s.Stats(); st.Damaged != 1 {
				t.Errorf("Damaged = %d, want 1", st.Damaged)
			}
			if s.Has(victim.kt, victim.rk) {
				t.Error("the damaged block is still held")
			}
			mustCheck(t, s)
			for i, b := range blocks {
				if i != tc.victim {
					mustGet(t, s, b)
				}
			}
			mustPut(t, s, victim, AreaStore) // a good copy can come back
			mustGet(t, s, victim)
		})
	}
}

// storeWithDamagedRecord makes a closed store of four CHK blocks and an SSK block, in both
// areas, with the record of one damaged as d says. It returns the file and the blocks.
func storeWithDamagedRecord(t *testing.T, d recordDamage) (string, []testBlock) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := Open(path, Options{noSync: true})
	if err != nil {
		t.Fatal(err)
	}
	blocks := chkBlocks(t, "damage", 4)
	blocks = append(blocks, sskBlock(t, "damage", "payload"))
	for i, b := range blocks {
		mustPut(t, s, b, []Area{AreaStore, AreaCache}[i%2])
	}
	rec := recordBytes(t, s, blocks[d.victim])
	s.Close()
	off := d.off
	if off < 0 {
		off += len(rec) - 48 + tagSize - 1
	}
	damageFile(t, path, rec, off)
	return path, blocks
}

// A damaged SSK record is replaced by a verified copy offered again, rather than reported as a
// collision.
func TestDamagedSSKIsReplacedByAGoodCopy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := Open(path, Options{noSync: true})
	if err != nil {
		t.Fatal(err)
	}
	b := sskBlock(t, "replace", "payload")
	mustPut(t, s, b, AreaCache)
	rec := recordBytes(t, s, b)
	s.Close()
	damageFile(t, path, rec, recordHeaderSize+100)
	s = openAt(t, path, Options{})
	mustPut(t, s, b, AreaCache)
	mustGet(t, s, b)
	if st := s.Stats(); st.Damaged != 1 || st.Cache.Blocks != 1 {
		t.Errorf("damaged %d, cache blocks %d", st.Damaged, st.Cache.Blocks)
	}
}

// Check finds index damage that no Get would notice: a state that disagrees with the data, a
// ring entry pointing nowhere, an entry listed in both areas.
// indexDamage is damage to the indexes in the tests: damage changes, in one transaction, a
// store that storeWithDamagedIndex filled, and Check says want of it.
type indexDamage struct {
	name   string
	damage func(tx *bolt.Tx, s *Store, b testBlock) error
	want   string
}

var indexDamages = []indexDamage{
	{"state counts", func(tx *bolt.Tx, s *Store, b testBlock) error {
		st := s.st
		st.store.blocks++
		return tx.Bucket(bucketMeta).Put(metaState, st.encode())
	}, "store accounts"},
	{"store index entry lost", func(tx *bolt.Tx, s *Store, b testBlock) error {
		k, _ := tx.Bucket(bucketStore).Cursor().First()
		return tx.Bucket(bucketStore).Delete(k)
	}, "store index holds"},
	{"cache ring entry duplicated into the store index", func(tx *bolt.Tx, s *Store, b testBlock) error {
		k, v := tx.Bucket(bucketCache).Cursor().First()
		return tx.Bucket(bucketStore).Put(indexKey(7, binaryBE(k)), v[1:])
	}, "keys entry says cache"},
	{"keys entry lost", func(tx *bolt.Tx, s *Store, b testBlock) error {
		k, _ := tx.Bucket(bucketKeys).Cursor().Last()
		return tx.Bucket(bucketKeys).Delete(k)
	}, "no keys entry"},
	{"record lost", func(tx *bolt.Tx, s *Store, b testBlock) error {
		k, _ := tx.Bucket(bucketData).Cursor().First()
		return tx.Bucket(bucketData).Delete(k)
	}, "missing record"},
	{"sequence behind", func(tx *bolt.Tx, s *Store, b testBlock) error {
		st := s.st
		st.nextSeq = 2
		return tx.Bucket(bucketMeta).Put(metaState, st.encode())
	}, "next sequence"},
}

func TestCheckFindsInconsistentIndexes(t *testing.T) {
	for _, tc := range indexDamages {
		t.Run(tc.name, func(t *testing.T) {
			path, _ := storeWithDamagedIndex(t, tc)
			s, err := Open(path, Options{noSync: true})
			if err != nil {
				t.Fatal(err)
			}
			err = s.Check()
			s.Close()
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check: %v, want ErrCorrupt saying %q", err, tc.want)
			}
		})
	}
}

// storeWithDamagedIndex makes a closed store of six CHK blocks, in both areas, whose indexes
// are damaged as d says. It returns the file and the blocks.
func storeWithDamagedIndex(t *testing.T, d indexDamage) (string, []testBlock) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := Open(path, Options{noSync: true})
	if err != nil {
		t.Fatal(err)
	}
	blocks := chkBlocks(t, "index", 6)
	for i, b := range blocks {
		mustPut(t, s, b, []Area{AreaStore, AreaCache}[i%2])
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return d.damage(tx, s, blocks[0]) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	return path, blocks
}

func binaryBE(k []byte) uint64 {
	seq, _ := parseSeqKey(k)
	return seq
}

// An op that finds damage mid-batch fails alone: the batch is run again one op at a time, and
// the other puts of the batch are committed.
func TestDamageFailsOnlyTheOpThatFindsIt(t *testing.T) {
	s := openTest(t, Options{})
	a, b := chkBlock(t, "solo", 0), chkBlock(t, "solo", 1)
	mustPut(t, s, a, AreaStore)
	d := s.keys.dbKey(a.kt, a.rk)
	var e entry
	if err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		e, _, err = lookup(tx, makeSlot(a.kt, d))
		if err != nil {
			return err
		}
		return tx.Bucket(bucketStore).Delete(indexKey(coarseLocation(a.rk), e.seq))
	}); err != nil {
		t.Fatal(err)
	}
	value, err := s.keys.seal(s.rand, b.kt, b.rk, s.keys.dbKey(b.kt, b.rk), b.block)
	if err != nil {
		t.Fatal(err)
	}
	removeA := &op{kt: a.kt, rk: a.rk, key: d, seq: e.seq, done: make(chan error, 1)}
	putB := &op{put: true, kt: b.kt, rk: b.rk, key: s.keys.dbKey(b.kt, b.rk), area: AreaCache, block: b.block, value: value, done: make(chan error, 1)}
	s.ops <- removeA // through the writer, which owns the state
	if err := <-removeA.done; !errors.Is(err, ErrCorrupt) {
		t.Fatalf("removal of a block missing from the store index: %v, want ErrCorrupt", err)
	}
	// The same op batched with a good one. The writer is idle (the removal above has been
	// answered), so the test can run the batch in its place, which makes the batch certain.
	removeA.done = make(chan error, 1)
	s.commit([]*op{removeA, putB})
	if err := <-removeA.done; !errors.Is(err, ErrCorrupt) {
		t.Errorf("in a batch: %v, want ErrCorrupt", err)
	}
	if err := <-putB.done; err != nil {
		t.Errorf("the other put of the batch: %v", err)
	}
	mustGet(t, s, b)
	// Put the index entry back so that the store checks clean at the end.
	sl := makeSlot(a.kt, d)
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketStore).Put(indexKey(coarseLocation(a.rk), e.seq), sl[:])
	}); err != nil {
		t.Fatal(err)
	}
}
