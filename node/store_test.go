package node

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/datastore"
)

// A tail's copy (spec §8.4) is served at once and on disk in the store area once a write
// that commits at once (a sink's copy) takes it along, without the insert waiting for its
// commit: with a shared-commit delay of an hour, StoreTail still returns. When
// maxCacheWriters writes wait already, the copy is written before StoreTail returns rather
// than left out, as a cache copy is.
func TestStoreTailDoesNotWaitForItsCommit(t *testing.T) {
	ds, err := datastore.Open(filepath.Join(t.TempDir(), "store.db"), datastore.Options{SharedCommitDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	s := newBlockStore(ds, testLogger(t))
	type block struct {
		rk   crypto.RoutingKey
		data []byte
	}
	var blocks []block
	for i := range 3 {
		data, key, err := crypto.EncodeCHKConvergent(fmt.Appendf(nil, "tail copy %d", i))
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, block{key.Routing, data})
	}
	tail, busyTail, busyCache := blocks[0], blocks[1], blocks[2]

	returned := make(chan error, 1)
	go func() { returned <- s.StoreTail(crypto.CHK, tail.rk, tail.data) }()
	select {
	case err := <-returned:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("StoreTail waited for its commit")
	}
	if got, ok := s.Get(crypto.CHK, tail.rk); !ok || !bytes.Equal(got, tail.data) {
		t.Fatal("a tail copy is not served while its commit waits")
	}
	if got := ds.Stats().Store.Blocks; got != 0 {
		t.Fatalf("%d blocks committed before any write needed it; want the copy waiting", got)
	}
	// A sink's copy commits at once and takes the waiting tail copy along (the first may
	// come before the copy reached the writer; the loop is bounded by the deadline).
	sinks := 0
	for deadline := time.Now().Add(time.Minute); !ds.Has(crypto.CHK, tail.rk); sinks++ {
		if time.Now().After(deadline) {
			t.Fatal("the tail copy is not on disk after a minute of the sink's commits")
		}
		data, key, err := crypto.EncodeCHKConvergent(fmt.Appendf(nil, "sink copy %d", sinks))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Store(crypto.CHK, key.Routing, data); err != nil {
			t.Fatal(err)
		}
	}
	s.wg.Wait()

	// Every slot taken: a tail copy is written at once, a cache copy left out.
	for range maxCacheWriters {
		s.slots <- struct{}{}
	}
	if err := s.StoreTail(crypto.CHK, busyTail.rk, busyTail.data); err != nil {
		t.Fatal(err)
	}
	if !ds.Has(crypto.CHK, busyTail.rk) {
		t.Error("a tail copy past maxCacheWriters is not on disk when StoreTail returns")
	}
	if err := s.Cache(crypto.CHK, busyCache.rk, busyCache.data); err != nil {
		t.Fatal(err)
	}
	if s.Has(crypto.CHK, busyCache.rk) || s.cacheDropped.Load() != 1 {
		t.Errorf("a cache copy past maxCacheWriters: held %v, %d dropped; want left out and counted",
			s.Has(crypto.CHK, busyCache.rk), s.cacheDropped.Load())
	}
	for range maxCacheWriters {
		<-s.slots
	}
	s.Close()
	if got, want := ds.Stats().Store.Blocks, int64(sinks+2); got != want {
		t.Errorf("the store area holds %d blocks, want %d (the sinks' copies, two tail copies)", got, want)
	}
}

// The router hands the store blocks in buffers its links reuse once the call returns
// (routing.CopyingStore): a tail or cache copy waiting for its write, served meanwhile and
// written after, must be the block as given, not what its caller's buffer holds later; and
// what Get serves from a waiting write must stay as it was after the write is done. (The
// writes wait for company for up to 2 s, SharedCommitDelay: long enough to be read waiting.)
func TestStoreCopiesWhatItKeeps(t *testing.T) {
	ds, err := datastore.Open(filepath.Join(t.TempDir(), "store.db"), datastore.Options{SharedCommitDelay: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	s := newBlockStore(ds, testLogger(t))
	defer s.Close()
	for _, keep := range []struct {
		name string
		put  func(crypto.KeyType, crypto.RoutingKey, []byte) error
	}{{"tail", s.StoreTail}, {"cache", s.Cache}} {
		data, key, err := crypto.EncodeCHKConvergent([]byte("a block in a lent buffer, " + keep.name))
		if err != nil {
			t.Fatal(err)
		}
		lent := bytes.Clone(data)
		if err := keep.put(crypto.CHK, key.Routing, lent); err != nil {
			t.Fatal(err)
		}
		clear(lent) // the link receives the next block into it
		served, ok := s.Get(crypto.CHK, key.Routing)
		if !ok || !bytes.Equal(served, data) {
			t.Fatalf("%s: the copy served while its write waits is not the block given", keep.name)
		}
		// The write commits within the shared-commit delay.
		s.mu.Lock()
		pending := len(s.pending)
		s.mu.Unlock()
		for deadline := time.Now().Add(time.Minute); pending > 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the write never finished", keep.name)
			}
			s.mu.Lock()
			pending = len(s.pending)
			s.mu.Unlock()
		}
		// The write's buffer is reused now; what Get gave out must not change with it.
		for i := range 4 {
			if err := s.Cache(crypto.CHK, crypto.RoutingKey{byte(i), 0xee, keep.name[0]}, bytes.Repeat([]byte{0xee}, crypto.CHKBlockSize)); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(served, data) {
			t.Fatalf("%s: a block Get served changed after its write's buffer was reused", keep.name)
		}
		if got, err := ds.Get(crypto.CHK, key.Routing); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: the store holds another block than the one given (%v)", keep.name, err)
		}
	}
}
