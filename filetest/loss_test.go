package filetest

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"lethe/crypto"
	"lethe/fetch"
	"lethe/insert"
	"lethe/metadata"
)

// loseShare deletes a random share of the blocks of every segment and returns how many.
func loseShare(st *Store, sf *metadata.Splitfile, share float64, rng *rand.Rand) int {
	lost := 0
	for _, s := range sf.Segments {
		n := int(share * float64(s.Blocks()))
		for _, i := range rng.Perm(s.Blocks())[:n] {
			st.Delete(s.Routing[i])
			lost++
		}
	}
	return lost
}

func TestLoss30PercentOfEverySegment(t *testing.T) {
	for _, size := range []int{bs + 1, seg + 1, 2*seg + 12345} {
		st := NewStore()
		data := randomBytes(uint64(size)+1, size)
		uri := insertBytes(t, st, data, insert.Config{})
		sf := splitfileOf(t, st, uri)
		lost := loseShare(st, sf, 0.30, rand.New(rand.NewPCG(uint64(size), 3)))
		got, _, err := fetchBytes(st, uri, fetch.Config{})
		if err != nil {
			t.Fatalf("%d bytes with %d blocks lost: %v", size, lost, err)
		}
		equalBytes(t, got, data)
	}
}

// TestLossBeyondRepair: one segment loses one block more than its check blocks can cover.
// The fetch fails and says which segment lacks how many blocks; the bytes written before the
// failure are exactly the content's first segments, never anything else.
func TestLossBeyondRepair(t *testing.T) {
	st := NewStore()
	data := randomBytes(21, 4*seg)
	uri := insertBytes(t, st, data, insert.Config{})
	sf := splitfileOf(t, st, uri)
	const broken = 2
	s := sf.Segments[broken]
	for _, i := range rand.New(rand.NewPCG(5, 5)).Perm(s.Blocks())[:s.CheckBlocks+1] {
		st.Delete(s.Routing[i])
	}
	got, _, err := fetchBytes(st, uri, fetch.Config{})
	var se *fetch.SegmentError
	if !errors.As(err, &se) {
		t.Fatalf("fetch: %v, want a SegmentError", err)
	}
	if se.Segment != broken || se.Segments != 4 || se.Need != s.DataBlocks || se.Have != s.DataBlocks-1 || se.Blocks != s.Blocks() {
		t.Errorf("SegmentError %+v, want segment %d of 4 with %d of %d blocks", *se, broken, s.DataBlocks-1, s.DataBlocks)
	}
	if !errors.Is(err, fetch.ErrBlockNotFound) {
		t.Error("SegmentError does not wrap ErrBlockNotFound")
	}
	t.Logf("error: %v", err)
	if len(got) > broken*seg || !bytes.Equal(got, data[:len(got)]) {
		t.Errorf("failed fetch wrote %d bytes that are not a prefix of the first %d segments", len(got), broken)
	}
}

// TestCorruptBlocksRefetched: a third of each segment's blocks come back damaged on the
// first route tried, and more blocks are lost than the check blocks alone could cover, so the
// damaged blocks must be refused and asked for again on a fresh route.
func TestCorruptBlocksRefetched(t *testing.T) {
	st := NewStore()
	data := randomBytes(23, 2*seg+77)
	uri := insertBytes(t, st, data, insert.Config{})
	sf := splitfileOf(t, st, uri)
	rng := rand.New(rand.NewPCG(7, 7))
	var corrupted []crypto.RoutingKey
	for _, s := range sf.Segments {
		perm := rng.Perm(s.Blocks())
		lose := s.CheckBlocks - s.Blocks()/3 + 1 // with the damaged ones, one more than m
		for _, i := range perm[:lose] {
			st.Delete(s.Routing[i])
		}
		for _, i := range perm[lose : lose+s.Blocks()/3] {
			st.Corrupt(s.Routing[i], 1)
			corrupted = append(corrupted, s.Routing[i])
		}
	}
	var failed int
	got, _, err := fetchBytes(st, uri, fetch.Config{Progress: func(p fetch.Progress) { failed = p.BlocksFailed }})
	if err != nil {
		t.Fatal(err)
	}
	equalBytes(t, got, data)
	refetched := 0
	for _, rk := range corrupted {
		if st.Gets(rk) >= 2 {
			refetched++
		}
	}
	if refetched == 0 || failed == 0 {
		t.Errorf("no damaged block was asked for again (%d failed requests)", failed)
	}
	t.Logf("%d damaged blocks refused and fetched again, %d failed requests", refetched, failed)
}

// TestHostileCheckBlocks: an inserter whose check blocks do not match its data blocks. A
// fetcher that has all data blocks never looks at them; one that must rebuild finds that the
// rebuilt block does not match its key, and fails rather than return other bytes.
func TestHostileCheckBlocks(t *testing.T) {
	st := NewStore()
	ctx := context.Background()
	k, m := 4, 4
	sf := &metadata.Splitfile{Length: int64(k * bs), Derived: true, Secret: [32]byte{1}}
	g := metadata.Segment{DataBlocks: k, CheckBlocks: m}
	data := randomBytes(29, k*bs)
	for i := 0; i < k+m; i++ {
		payload := randomBytes(uint64(100+i), bs) // check blocks: noise, not the code's
		if i < k {
			payload = data[i*bs : (i+1)*bs]
		}
		block, key, err := crypto.EncodeCHKWithKey(payload, crypto.SplitfileBlockKey(sf.Secret, 0, uint16(i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PutBlock(ctx, crypto.CHK, key.Routing, block); err != nil {
			t.Fatal(err)
		}
		g.Routing = append(g.Routing, key.Routing)
	}
	sf.Segments = []metadata.Segment{g}
	doc := &metadata.Document{Kind: metadata.KindSplitfile, Size: sf.Length, Split: sf}
	r, err := fetch.New(st, fetch.Config{}).OpenDocument(ctx, doc)
	if err != nil {
		t.Fatal(err)
	}
	got := new(bytes.Buffer)
	if _, err := got.ReadFrom(r); err != nil {
		t.Fatalf("all data blocks present: %v", err)
	}
	r.Close()
	equalBytes(t, got.Bytes(), data)

	st.Delete(g.Routing[1])
	r, err = fetch.New(st, fetch.Config{}).OpenDocument(ctx, doc)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got.Reset()
	_, err = got.ReadFrom(r)
	if !errors.Is(err, fetch.ErrCorrupt) {
		t.Fatalf("rebuilding from hostile check blocks: %v, want ErrCorrupt", err)
	}
	// Data block 0 verified against its own key and may be handed out before the segment
	// fails; nothing of the rebuilt block 1 may.
	if got.Len() > bs || !bytes.Equal(got.Bytes(), data[:got.Len()]) {
		t.Errorf("%d bytes handed out from a segment that failed to verify, past its verified data block 0", got.Len())
	}
}

// TestResume interrupts a fetch part-way, runs it again with the same cache, and checks that
// no block fetched the first time is requested again.
func TestResume(t *testing.T) {
	st := NewStore()
	data := randomBytes(31, 3*seg)
	uri := insertBytes(t, st, data, insert.Config{})
	cache, err := fetch.NewDirCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int64
	st.OnGet = func(ctx context.Context, rk crypto.RoutingKey, attempt int) error {
		if calls.Add(1) > 200 {
			cancel()
			return ctx.Err()
		}
		return nil
	}
	st.ResetCounts()
	var out bytes.Buffer
	_, err = fetch.New(st, fetch.Config{Cache: cache}).Fetch(ctx, uri, &out)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted fetch: %v, want context.Canceled", err)
	}
	first := map[crypto.RoutingKey]bool{}
	sf := splitfileOf(t, NewStoreFrom(st), uri)
	top, _ := uri.RoutingKey()
	keys := []crypto.RoutingKey{top}
	for _, s := range sf.Segments {
		keys = append(keys, s.Routing...)
	}
	for _, rk := range keys {
		if st.Gets(rk) > 0 {
			first[rk] = true
		}
	}
	if len(first) < 100 {
		t.Fatalf("only %d blocks fetched before the interruption", len(first))
	}

	st.OnGet = nil
	st.ResetCounts()
	got, _, err := fetchBytes(st, uri, fetch.Config{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	equalBytes(t, got, data)
	again := 0
	for rk := range first {
		again += st.Gets(rk)
	}
	if again != 0 {
		t.Errorf("%d of the %d blocks fetched before the interruption were requested again", again, len(first))
	}
	t.Logf("first run fetched %d blocks; the second made %d requests", len(first), st.TotalGets())
	if err := cache.Remove(); err != nil {
		t.Fatal(err)
	}
}

// NewStoreFrom is a view of st that does not count requests, for a test's own lookups.
func NewStoreFrom(st *Store) *Store {
	c := NewStore()
	st.mu.Lock()
	defer st.mu.Unlock()
	for rk, b := range st.blocks {
		c.blocks[rk] = b
		c.kinds[rk] = st.kinds[rk]
	}
	return c
}

// TestDamagedCacheIsRefetched: a cache file that was altered on disk costs a request, never
// wrong data.
func TestDamagedCacheIsRefetched(t *testing.T) {
	st := NewStore()
	data := randomBytes(37, 3*bs)
	uri := insertBytes(t, st, data, insert.Config{})
	dir := t.TempDir()
	cache, _ := fetch.NewDirCache(dir)
	if _, _, err := fetchBytes(st, uri, fetch.Config{Cache: cache}); err != nil {
		t.Fatal(err)
	}
	sf := splitfileOf(t, st, uri)
	rk := sf.Segments[0].Routing[0]
	b, ok := cache.Load(rk)
	if !ok {
		t.Fatal("block not kept in the cache")
	}
	b[100] ^= 1
	cache.Store(rk, b)
	st.ResetCounts()
	got, _, err := fetchBytes(st, uri, fetch.Config{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	equalBytes(t, got, data)
	if st.Gets(rk) != 1 || st.TotalGets() != 1 {
		t.Errorf("damaged cached block requested %d times, %d requests in all; want 1 and 1", st.Gets(rk), st.TotalGets())
	}
}
