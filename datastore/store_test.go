package datastore

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"lethe/crypto"
)

func TestPutGetHas(t *testing.T) {
	s := openTest(t, Options{})
	blocks := []testBlock{chkBlock(t, "basic", 0), chkBlock(t, "basic", 1), sskBlock(t, "basic", "hello")}
	for i, b := range blocks {
		area := []Area{AreaStore, AreaCache}[i%2]
		if s.Has(b.kt, b.rk) {
			t.Fatalf("block %d held before it was put", i)
		}
		mustPut(t, s, b, area)
		if !s.Has(b.kt, b.rk) {
			t.Fatalf("block %d not held after Put", i)
		}
		mustGet(t, s, b)
	}
	missing := chkBlock(t, "basic", 99)
	if _, err := s.Get(missing.kt, missing.rk); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing block: %v, want ErrNotFound", err)
	}
	// A CHK routing key asked for as an SSK is a different block.
	if _, err := s.Get(crypto.SSK, blocks[0].rk); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a CHK key as SSK: %v, want ErrNotFound", err)
	}
	st := s.Stats()
	if st.Store.Blocks != 2 || st.Cache.Blocks != 1 {
		t.Errorf("Stats: store %d cache %d blocks, want 2 and 1", st.Store.Blocks, st.Cache.Blocks)
	}
	if want := int64(crypto.CHKBlockSize + crypto.SSKBlockSize); st.Store.Bytes != want {
		t.Errorf("store bytes %d, want %d", st.Store.Bytes, want)
	}
	if st.Hits != 3 || st.Misses != 2 || st.Puts != 3 {
		t.Errorf("counters: hits %d misses %d puts %d, want 3 2 3", st.Hits, st.Misses, st.Puts)
	}
}

func TestPutRefusesBlocksThatDoNotVerify(t *testing.T) {
	s := openTest(t, Options{})
	good := chkBlock(t, "refuse", 0)
	other := chkBlock(t, "refuse", 1)
	ssk := sskBlock(t, "refuse", "x")
	tampered := append([]byte(nil), ssk.block...)
	tampered[len(tampered)-1] ^= 1 // breaks the signature only
	for _, tc := range []struct {
		name  string
		kt    crypto.KeyType
		rk    crypto.RoutingKey
		block []byte
		want  error
	}{
		{"chk under another key", crypto.CHK, other.rk, good.block, crypto.ErrVerify},
		{"chk short", crypto.CHK, good.rk, good.block[:len(good.block)-1], crypto.ErrMalformed},
		{"chk long", crypto.CHK, good.rk, append(append([]byte(nil), good.block...), 0), crypto.ErrMalformed},
		{"chk empty", crypto.CHK, good.rk, nil, crypto.ErrMalformed},
		{"ssk bad signature", crypto.SSK, ssk.rk, tampered, crypto.ErrVerify},
		{"ssk block as chk", crypto.CHK, ssk.rk, ssk.block, crypto.ErrMalformed},
		{"chk block as ssk", crypto.SSK, good.rk, good.block, crypto.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Put(tc.kt, tc.rk, tc.block, AreaStore)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Put: %v, want %v", err, tc.want)
			}
			if s.Has(tc.kt, tc.rk) {
				t.Fatal("a refused block is held")
			}
		})
	}
	if err := s.Put(crypto.CHK, good.rk, good.block, Area(0)); err == nil {
		t.Error("Put into area 0 succeeded")
	}
	if err := s.Put(crypto.KeyType(9), good.rk, good.block, AreaStore); err == nil {
		t.Error("Put of key type 9 succeeded")
	}
	if st := s.Stats(); st.Store.Blocks != 0 || st.Puts != 0 {
		t.Errorf("after refusals: %d blocks, %d puts", st.Store.Blocks, st.Puts)
	}
}

// PutVerified trusts its caller's verification but still refuses a block of the wrong size,
// and a block that was not what its key names (a caller's mistake) is never served.
func TestPutVerifiedSkipsOnlyTheHash(t *testing.T) {
	s := openTest(t, Options{})
	good := chkBlock(t, "verified", 0)
	other := chkBlock(t, "verified", 1)
	ssk := sskBlock(t, "verified", "x")
	for _, tc := range []struct {
		name  string
		kt    crypto.KeyType
		rk    crypto.RoutingKey
		block []byte
	}{
		{"chk short", crypto.CHK, good.rk, good.block[:len(good.block)-1]},
		{"chk empty", crypto.CHK, good.rk, nil},
		{"ssk block as chk", crypto.CHK, ssk.rk, ssk.block},
		{"chk block as ssk", crypto.SSK, good.rk, good.block},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.PutVerified(tc.kt, tc.rk, tc.block, AreaStore, CommitAtOnce); !errors.Is(err, crypto.ErrMalformed) {
				t.Fatalf("PutVerified: %v, want %v", err, crypto.ErrMalformed)
			}
			if s.Has(tc.kt, tc.rk) {
				t.Fatal("a refused block is held")
			}
		})
	}
	for _, b := range []testBlock{good, ssk} {
		if err := s.PutVerified(b.kt, b.rk, b.block, AreaCache, CommitShared); err != nil {
			t.Fatalf("PutVerified %v: %v", b.kt, err)
		}
		if got, err := s.Get(b.kt, b.rk); err != nil || !bytes.Equal(got, b.block) {
			t.Fatalf("Get %v after PutVerified: %v", b.kt, err)
		}
	}
	// A caller that did not verify: the wrong block under other's key is written, but Get
	// verifies what it reads, removes the record and serves nothing.
	if err := s.PutVerified(crypto.CHK, other.rk, good.block, AreaStore, CommitAtOnce); err != nil {
		t.Fatalf("PutVerified of a mislabelled block: %v", err)
	}
	if _, err := s.Get(crypto.CHK, other.rk); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a mislabelled block: %v, want %v", err, ErrNotFound)
	}
	if s.Has(crypto.CHK, other.rk) {
		t.Error("the mislabelled block is still held after Get found it bad")
	}
}

func TestSSKCollisionKeepsTheFirstBlock(t *testing.T) {
	s := openTest(t, Options{})
	first := sskBlock(t, "doc", "first payload")
	second := sskBlock(t, "doc", "second payload")
	if first.rk != second.rk {
		t.Fatal("test setup: the two blocks should share a routing key")
	}
	for _, a := range []Area{AreaCache, AreaStore} {
		mustPut(t, s, first, a)
		if err := s.Put(second.kt, second.rk, second.block, a); !errors.Is(err, crypto.ErrCollision) {
			t.Fatalf("Put of a different block under the same SSK (%v): %v, want ErrCollision", a, err)
		}
		mustGet(t, s, first)
		mustPut(t, s, first, a) // the identical block again is a harmless re-insert
	}
}

func TestKSKAndUSKBlocksAreSSKBlocks(t *testing.T) {
	s := openTest(t, Options{})
	b := sskBlock(t, "site-7", "edition seven")
	if err := s.Put(crypto.USK, b.rk, b.block, AreaStore); err != nil {
		t.Fatal(err)
	}
	for _, kt := range []crypto.KeyType{crypto.SSK, crypto.KSK, crypto.USK} {
		got, err := s.Get(kt, b.rk)
		if err != nil || string(got) != string(b.block) {
			t.Fatalf("Get as %v: %v", kt, err)
		}
	}
}

func TestOneCopyAcrossAreas(t *testing.T) {
	s := openTest(t, Options{})
	a, b := chkBlock(t, "areas", 0), chkBlock(t, "areas", 1)
	type counts struct{ store, cache int64 }
	expect := func(want counts) {
		t.Helper()
		st := s.Stats()
		if got := (counts{st.Store.Blocks, st.Cache.Blocks}); got != want {
			t.Fatalf("store/cache blocks %v, want %v", got, want)
		}
		mustCheck(t, s)
	}
	mustPut(t, s, a, AreaCache)
	mustPut(t, s, a, AreaCache)
	expect(counts{0, 1})
	mustPut(t, s, a, AreaStore) // the routing layer found this node is the sink: promotion
	expect(counts{1, 0})
	mustPut(t, s, a, AreaCache) // already stored long-term: nothing to do
	expect(counts{1, 0})
	mustPut(t, s, b, AreaStore)
	mustPut(t, s, b, AreaCache)
	expect(counts{2, 0})
	mustGet(t, s, a)
	mustGet(t, s, b)
	if st := s.Stats(); st.Store.Bytes != 2*crypto.CHKBlockSize || st.Cache.Bytes != 0 {
		t.Errorf("bytes: store %d cache %d", st.Store.Bytes, st.Cache.Bytes)
	}
}

func TestReopenKeepsBlocksAndAccounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	opts := Options{noSync: true}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	blocks := chkBlocks(t, "reopen", 6)
	blocks = append(blocks, sskBlock(t, "reopen", "ssk"))
	for i, b := range blocks {
		mustPut(t, s, b, []Area{AreaStore, AreaCache}[i%2])
	}
	before := s.Stats()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path, opts)
	for _, b := range blocks {
		mustGet(t, s, b)
	}
	after := s.Stats()
	if after.Store != before.Store || after.Cache != before.Cache {
		t.Errorf("after reopen: %+v %+v, before %+v %+v", after.Store, after.Cache, before.Store, before.Cache)
	}
}

func TestCloseIsIdempotentAndFinal(t *testing.T) {
	checkNoLeak(t)
	s, err := Open(filepath.Join(t.TempDir(), "store.db"), Options{noSync: true})
	if err != nil {
		t.Fatal(err)
	}
	b := chkBlock(t, "close", 0)
	mustPut(t, s, b, AreaStore)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Put(b.kt, b.rk, b.block, AreaStore); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Get(b.kt, b.rk); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v, want ErrClosed", err)
	}
	if s.Has(b.kt, b.rk) {
		t.Error("Has after Close is true")
	}
	if err := s.Check(); !errors.Is(err, ErrClosed) {
		t.Errorf("Check after Close: %v, want ErrClosed", err)
	}
}

func TestDisabledAreaKeepsNothing(t *testing.T) {
	s := openTest(t, Options{StoreBytes: -1})
	b := chkBlock(t, "disabled", 0)
	mustPut(t, s, b, AreaStore)
	if s.Has(b.kt, b.rk) {
		t.Fatal("a disabled store area holds a block")
	}
	mustPut(t, s, b, AreaCache)
	mustPut(t, s, b, AreaStore) // no promotion into a disabled store: it stays cached
	st := s.Stats()
	if st.Store.Bound != -1 || st.Store.Blocks != 0 || st.Cache.Blocks != 1 || st.Rejected != 2 {
		t.Errorf("stats %+v", st)
	}
	// Refused before any write: only the cache's put committed (a commit is two fdatasyncs).
	if c := s.commits.Load(); c != 1 {
		t.Errorf("%d commits for one block kept and two refused, want 1", c)
	}
	mustGet(t, s, b)
}

func TestDefaults(t *testing.T) {
	s := openTest(t, Options{})
	st := s.Stats()
	if st.Store.Bound != DefaultStoreBytes || st.Cache.Bound != DefaultCacheBytes {
		t.Errorf("bounds %d %d, want the defaults", st.Store.Bound, st.Cache.Bound)
	}
}

func TestSetLocationIgnoresLocationsOffTheCircle(t *testing.T) {
	s := openTest(t, Options{Location: 0.25})
	for _, l := range []float64{-0.1, 1, 2} {
		s.SetLocation(crypto.Location(l))
		if got := s.location(); got != 0.25 {
			t.Fatalf("after SetLocation(%v): location %v", l, got)
		}
	}
	s.SetLocation(0.75)
	if got := s.location(); got != 0.75 {
		t.Fatalf("location %v, want 0.75", got)
	}
}
