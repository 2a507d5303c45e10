package datastore

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"lethe/crypto"
)

// testBlock is a verified block with its key.
type testBlock struct {
	kt    crypto.KeyType
	rk    crypto.RoutingKey
	block []byte
}

// openTest opens a fresh store in a temporary directory; the store is checked and closed when
// the test ends (bbolt's MustCheck habit).
func openTest(tb testing.TB, opts Options) *Store {
	tb.Helper()
	return openAt(tb, filepath.Join(tb.TempDir(), "store.db"), opts)
}

// openAt opens the store at path for a test, with fsync off unless the test turned it on
// (durability against a crash of the machine is bbolt's; what the tests check holds without).
func openAt(tb testing.TB, path string, opts Options) *Store {
	tb.Helper()
	opts.noSync = true
	s, err := Open(path, opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		mustCheck(tb, s)
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

// mustCheck fails the test if the store does not pass Check. A closed store is not checked.
func mustCheck(tb testing.TB, s *Store) {
	tb.Helper()
	if err := s.Check(); err != nil && !errors.Is(err, ErrClosed) {
		tb.Errorf("Check: %v", err)
	}
}

// chkBlock is the i-th CHK block of a named series: deterministic, distinct, verified.
func chkBlock(tb testing.TB, series string, i int) testBlock {
	tb.Helper()
	return newCHKBlock(series, i)
}

func newCHKBlock(series string, i int) testBlock {
	payload := fmt.Appendf(nil, "lethe datastore test %s block %d", series, i)
	block, key, err := crypto.EncodeCHKWithKey(payload, sha256.Sum256(payload))
	if err != nil {
		panic(err) // a payload this short always fits
	}
	return testBlock{crypto.CHK, key.Routing, block}
}

func chkBlocks(tb testing.TB, series string, n int) []testBlock {
	tb.Helper()
	bs := make([]testBlock, n)
	for i := range bs {
		bs[i] = chkBlock(tb, series, i)
	}
	return bs
}

var (
	sskKeyOnce sync.Once
	sskKey     *crypto.SSKPrivateKey
)

// sskBlock is an SSK block of document doc holding payload, in one fixed test subspace.
func sskBlock(tb testing.TB, doc, payload string) testBlock {
	tb.Helper()
	b, err := newSSKBlock(doc, payload)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func newSSKBlock(doc, payload string) (testBlock, error) {
	sskKeyOnce.Do(func() { sskKey = crypto.NewSSKPrivateKey(sha256.Sum256([]byte("lethe datastore test subspace"))) })
	ik := crypto.SSKInsertKey{Private: sskKey, Crypto: sha256.Sum256([]byte("crypto key")), DocName: doc}
	block, rk, err := ik.Encode([]byte(payload))
	return testBlock{crypto.SSK, rk, block}, err
}

func mustPut(tb testing.TB, s *Store, b testBlock, a Area) {
	tb.Helper()
	if err := s.Put(b.kt, b.rk, b.block, a); err != nil {
		tb.Fatalf("Put: %v", err)
	}
}

// mustGet fetches a block and checks it is exactly the one put and verifies.
func mustGet(tb testing.TB, s *Store, b testBlock) {
	tb.Helper()
	got, err := s.Get(b.kt, b.rk)
	if err != nil {
		tb.Fatalf("Get: %v", err)
	}
	if string(got) != string(b.block) {
		tb.Fatalf("Get returned a different block")
	}
	if err := verify(b.kt, b.rk, got); err != nil {
		tb.Fatalf("served block does not verify: %v", err)
	}
}

// locationOf is the coarse distance a store area ranks a block by.
func distanceOf(l crypto.Location, b testBlock) float64 {
	return coarseDistance(l, binary.BigEndian.Uint16(b.rk[:2]))
}

// checkNoLeak waits briefly for goroutines started by a test to end, then compares the count.
func checkNoLeak(tb testing.TB) {
	tb.Helper()
	before := runtime.NumGoroutine()
	tb.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			tb.Errorf("%d goroutines leaked:\n%s", n-before, firstLines(string(buf), 40))
		}
	})
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

type boltTx = bolt.Tx
