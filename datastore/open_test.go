package datastore

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"lethe/crypto"
)

func TestOpenRefusesWhatItCannotUse(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	otherBolt := filepath.Join(dir, "other.db")
	db, err := bolt.Open(otherBolt, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("someone-else")); return err })
	db.Close()

	foreignFormat := filepath.Join(dir, "future.db")
	db, err = bolt.Open(foreignFormat, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		return b.Put(metaFormat, []byte("lethe/v9/datastore"))
	})
	db.Close()

	for _, tc := range []struct {
		name string
		path string
		opts Options
		want error
		text string
	}{
		{"text file", write("notes.txt", []byte(strings.Repeat("not a database\n", 1000))), Options{}, ErrNotStore, "no bbolt header"},
		{"short file", write("short", []byte("x")), Options{}, ErrNotStore, ""},
		{"someone else's bbolt file", otherBolt, Options{}, ErrNotStore, "meta bucket"},
		{"a newer format", foreignFormat, Options{}, ErrNotStore, "lethe/v9/datastore"},
		{"missing directory", filepath.Join(dir, "no-such-dir", "store.db"), Options{}, fs.ErrNotExist, ""},
		{"a directory", dir, Options{}, nil, ""},
		{"location off the circle", filepath.Join(dir, "x.db"), Options{Location: 1}, nil, "location"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(tc.path, tc.opts)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Open: %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.text) || !strings.Contains(err.Error(), tc.path) {
				t.Errorf("Open: %q does not name the file and say %q", err, tc.text)
			}
		})
	}
	// None of them was overwritten with a fresh store.
	if data, _ := os.ReadFile(filepath.Join(dir, "short")); string(data) != "x" {
		t.Error("a file Open refused was changed")
	}
}

func TestOpenLockedByAnotherNode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	openAt(t, path, Options{})
	start := time.Now()
	_, err := Open(path, Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), "another Lethe node") {
		t.Errorf("error %q does not say another node may be running", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gave up after %v", d)
	}
}

// A store whose header pages are destroyed is reported as damaged, not replaced by an empty one.
func TestOpenDamagedHeaderIsCorruptNotEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := Open(path, Options{noSync: true})
	if err != nil {
		t.Fatal(err)
	}
	b := chkBlock(t, "header", 0)
	mustPut(t, s, b, AreaStore)
	s.Close()

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, page := range []int{0, 4096} {
		for i := page + 24; i < page+80; i++ { // past the magic: the meta page's fields and checksum
			data[i] ^= 0x5a
		}
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open of a store with both meta pages destroyed succeeded")
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open: %v, want ErrCorrupt", err)
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(data) {
		t.Error("Open changed the damaged file")
	}
}

// A store whose meta bucket lost its state is reported as damaged.
func TestOpenMissingStateIsCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := Open(path, Options{noSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(metaState) })
	db.Close()
	if _, err := Open(path, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open: %v, want ErrCorrupt", err)
	}
}

func TestOpenCreatesOnFirstRunOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s := openAt(t, path, Options{})
	if st := s.Stats(); st.Store.Blocks != 0 || st.Cache.Blocks != 0 {
		t.Fatalf("a new store is not empty: %+v", st)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("store file mode %v, want 0600", fi.Mode().Perm())
	}
	b := chkBlock(t, "first-run", 0)
	mustPut(t, s, b, AreaCache)
	var salt [saltSize]byte
	copy(salt[:], s.keys.salt[:])
	if salt == ([saltSize]byte{}) {
		t.Error("salt is all zero")
	}
	other := openTest(t, Options{})
	if other.keys.salt == s.keys.salt {
		t.Error("two stores share a salt")
	}
	if s.keys.dbKey(crypto.CHK, b.rk) == other.keys.dbKey(crypto.CHK, b.rk) {
		t.Error("two stores file a block under the same database key")
	}
}

// Options.Rand is the source of the salt: the same source gives the same salt, and a source
// that fails makes Open fail.
func TestOptionsRandIsTheSourceOfTheSalt(t *testing.T) {
	seeded := func() *bytes.Reader { return bytes.NewReader(bytes.Repeat([]byte{7}, 1<<16)) }
	a := openTest(t, Options{Rand: seeded()})
	b := openTest(t, Options{Rand: seeded()})
	if a.keys.salt != b.keys.salt || a.keys.salt != [saltSize]byte(bytes.Repeat([]byte{7}, saltSize)) {
		t.Error("the salt does not come from Options.Rand")
	}
	blk := chkBlock(t, "rand", 0)
	mustPut(t, a, blk, AreaStore)
	mustGet(t, a, blk)
	if _, err := Open(filepath.Join(t.TempDir(), "store.db"), Options{Rand: bytes.NewReader(nil)}); err == nil {
		t.Error("Open with an empty Rand succeeded")
	}
}
