package datastore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCheckFileHealthy: a healthy store is reported healthy, with its figures, and left as
// it was.
func TestCheckFileHealthy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s := openAt(t, path, Options{})
	for i, b := range chkBlocks(t, "healthy", 5) {
		mustPut(t, s, b, []Area{AreaStore, AreaCache}[i%2])
	}
	s.Close()
	os.Remove(path + ".reserve") // the node's; checking must not make one
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := CheckFile(path, Options{})
	if err != nil {
		t.Fatalf("CheckFile of a healthy store: %v", err)
	}
	if st.Store.Blocks != 3 || st.Cache.Blocks != 2 {
		t.Errorf("CheckFile figures: %d stored, %d cached; want 3 and 2", st.Store.Blocks, st.Cache.Blocks)
	}
	rep, err := RepairFile(path, Options{})
	if err != nil || rep.Dropped != 0 || rep.Reindexed != 0 || rep.Recounted {
		t.Errorf("RepairFile of a healthy store: %+v, %v", rep, err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Error("checking a healthy store changed its file")
	}
	if _, err := os.Stat(path + ".reserve"); err == nil {
		t.Error("CheckFile made a reserve file")
	}
}

// TestCheckFileRefusesOpenStore: a store a running node holds is refused at once, not
// checked beside it.
func TestCheckFileRefusesOpenStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	openAt(t, path, Options{})
	for _, check := range []func() error{
		func() error { _, err := CheckFile(path, Options{LockTimeout: 50 * time.Millisecond}); return err },
		func() error { _, err := RepairFile(path, Options{LockTimeout: 50 * time.Millisecond}); return err },
	} {
		if err := check(); !errors.Is(err, ErrLocked) {
			t.Errorf("check of an open store: %v, want ErrLocked", err)
		}
	}
}

// TestCheckFileMissing: a directory without a store is an error, and no store is made.
func TestCheckFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	if _, err := CheckFile(path, Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("CheckFile of no file: %v", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("CheckFile made a store")
	}
}

// TestRepairDamagedRecords: every damaged record the damage tests make is found by
// CheckFile, dropped by RepairFile, and the store is healthy afterwards with every other
// block served.
func TestRepairDamagedRecords(t *testing.T) {
	for _, tc := range recordDamages {
		t.Run(tc.name, func(t *testing.T) {
			path, blocks := storeWithDamagedRecord(t, tc)
			if _, err := CheckFile(path, Options{}); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("CheckFile of a damaged record: %v", err)
			}
			rep, err := RepairFile(path, Options{})
			if err != nil {
				t.Fatalf("RepairFile: %v", err)
			}
			if rep.Dropped != 1 || rep.Reindexed == 0 || !rep.Recounted {
				t.Errorf("RepairFile report %+v: want one record dropped, its index entries and counts redone", rep)
			}
			if got := rep.After.Store.Blocks + rep.After.Cache.Blocks; got != int64(len(blocks)-1) {
				t.Errorf("%d blocks after the repair, want %d", got, len(blocks)-1)
			}
			s := openAt(t, path, Options{}) // checked again at cleanup
			for i, b := range blocks {
				if i != tc.victim {
					mustGet(t, s, b)
				} else if s.Has(b.kt, b.rk) {
					t.Error("the damaged block is still held")
				}
			}
		})
	}
}

// TestRepairDamagedIndexes: each index damage of the damage tests is found and repaired;
// at most the one block whose place was lost is dropped, and every block kept is served.
func TestRepairDamagedIndexes(t *testing.T) {
	for _, tc := range indexDamages {
		t.Run(tc.name, func(t *testing.T) {
			path, blocks := storeWithDamagedIndex(t, tc)
			if _, err := CheckFile(path, Options{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckFile: %v, want ErrCorrupt saying %q", err, tc.want)
			}
			rep, err := RepairFile(path, Options{})
			if err != nil {
				t.Fatalf("RepairFile: %v", err)
			}
			if rep.Dropped > 1 || rep.Reindexed == 0 && !rep.Recounted {
				t.Errorf("RepairFile report %+v", rep)
			}
			s := openAt(t, path, Options{})
			held := 0
			for _, b := range blocks {
				if s.Has(b.kt, b.rk) {
					mustGet(t, s, b)
					held++
				}
			}
			if held < len(blocks)-1 || int64(held) != rep.After.Store.Blocks+rep.After.Cache.Blocks {
				t.Errorf("%d of %d blocks held after the repair, the store counts %d", held, len(blocks),
					rep.After.Store.Blocks+rep.After.Cache.Blocks)
			}
		})
	}
}

// TestRepairRefusesDamagedPages: damage in bbolt's own pages is reported beyond repair and
// the file is left as it was.
func TestRepairRefusesDamagedPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s := openAt(t, path, Options{})
	mustPut(t, s, chkBlocks(t, "pages", 1)[0], AreaStore)
	s.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Page 2 onwards: the first non-meta pages. Overwrite the header of every page past the
	// two meta pages with garbage flags, so that bbolt's check sees pages of no known kind.
	for off := 2 * 4096; off+16 <= len(data); off += 4096 {
		data[off+8], data[off+9] = 0xff, 0xff
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = RepairFile(path, Options{})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("RepairFile of damaged pages: %v, want ErrCorrupt", err)
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(data) {
		t.Error("RepairFile changed a store it could not repair")
	}
}
