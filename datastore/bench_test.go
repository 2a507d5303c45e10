package datastore

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"

	"lethe/crypto"
)

// Benchmarks of 32 KiB (CHK) blocks, each beside raw bbolt doing the same I/O with the same
// bytes (the block under its routing key, no sealing, no verifying, no index) in the same run,
// so the ratio is what counts. Puts commit with fsync, as the store does. See
// docs/performance.md for the figures and the command.

const (
	benchPool  = 2048 // distinct blocks (64 MiB); a put benchmark that uses them all starts a new store
	benchBatch = 64   // concurrent putters in the batched benchmarks, puts per raw transaction
)

var (
	benchOnce   sync.Once
	benchBlocks []testBlock
)

func poolBlocks() []testBlock {
	benchOnce.Do(func() {
		benchBlocks = make([]testBlock, benchPool)
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := w; i < benchPool; i += 4 {
					benchBlocks[i] = newCHKBlock("bench", i)
				}
			})
		}
		wg.Wait()
	})
	return benchBlocks
}

// benchStore opens a store that commits with fsync and bounds big enough not to evict.
func benchStore(b *testing.B) *Store {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "store.db"), Options{StoreBytes: 4 << 30, CacheBytes: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func rawBolt(b *testing.B) *bolt.DB {
	b.Helper()
	db, err := bolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, &bolt.Options{
		FreelistType: bolt.FreelistMapType, NoStatistics: true, InitialMmapSize: mmapSize(4<<30, 1<<30)})
	if err != nil {
		b.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// cursor hands out pool indices; when the pool is used up it waits for the work in flight
// (drain), stops the timer and calls fresh.
type cursor struct {
	b     *testing.B
	next  int
	drain func()
	fresh func()
}

func (c *cursor) take(n int) int {
	if c.next+n > benchPool {
		if c.drain != nil {
			c.drain()
		}
		c.b.StopTimer()
		if c.fresh != nil {
			c.fresh()
		}
		c.next = 0
		c.b.StartTimer()
	}
	i := c.next
	c.next += n
	return i
}

func BenchmarkPut(b *testing.B) {
	blocks := poolBlocks()
	b.Run("single", func(b *testing.B) {
		s := benchStore(b)
		c := &cursor{b: b, fresh: func() { s.Close(); s = benchStore(b) }}
		b.SetBytes(crypto.CHKBlockSize)
		for b.Loop() {
			x := blocks[c.take(1)]
			if err := s.Put(x.kt, x.rk, x.block, AreaStore); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
	})
	b.Run("raw-single", func(b *testing.B) {
		db := rawBolt(b)
		c := &cursor{b: b, fresh: func() { db.Close(); db = rawBolt(b) }}
		b.SetBytes(crypto.CHKBlockSize)
		for b.Loop() {
			x := blocks[c.take(1)]
			if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("b")).Put(x.rk[:], x.block) }); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
	})
	b.Run("batched", func(b *testing.B) {
		s := benchStore(b)
		streamPuts(b, func() *Store { s.Close(); s = benchStore(b); return s }, s, AreaStore)
	})
	b.Run("raw-batched", func(b *testing.B) {
		db := rawBolt(b)
		c := &cursor{b: b, fresh: func() { db.Close(); db = rawBolt(b) }}
		b.SetBytes(benchBatch * crypto.CHKBlockSize)
		for b.Loop() {
			first := c.take(benchBatch)
			err := db.Update(func(tx *bolt.Tx) error {
				bk := tx.Bucket([]byte("b"))
				for _, x := range blocks[first : first+benchBatch] {
					if err := bk.Put(x.rk[:], x.block); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "puts/s")
	})
	// A full cache: every put also evicts one block by the CLOCK.
	b.Run("batched-evicting", func(b *testing.B) {
		open := func() *Store {
			s, err := Open(filepath.Join(b.TempDir(), "store.db"), Options{StoreBytes: -1, CacheBytes: 256 * crypto.CHKBlockSize})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			putMany(b, s, "bench-fill", 0, 256, AreaCache)
			return s
		}
		s := open()
		streamPuts(b, func() *Store { s.Close(); return open() }, s, AreaCache)
	})
}

// streamPuts measures puts from benchBatch goroutines fed without pause, as a busy node's
// request handlers would put blocks: the writer commits whatever queued up meanwhile.
func streamPuts(b *testing.B, fresh func() *Store, s *Store, area Area) {
	blocks := poolBlocks()
	work := make(chan testBlock, benchBatch)
	var pending, workers sync.WaitGroup
	var current atomic.Pointer[Store]
	current.Store(s)
	var commits atomic.Uint64 // over the stores used
	count := func(s *Store) { commits.Add(s.commits.Load()) }
	defer func() { count(current.Load()) }()
	for range benchBatch {
		workers.Go(func() {
			for x := range work {
				if err := current.Load().Put(x.kt, x.rk, x.block, area); err != nil {
					b.Error(err)
				}
				pending.Done()
			}
		})
	}
	c := &cursor{b: b, drain: pending.Wait, fresh: func() { count(current.Load()); current.Store(fresh()) }}
	b.SetBytes(crypto.CHKBlockSize)
	for b.Loop() {
		x := blocks[c.take(1)]
		pending.Add(1)
		work <- x
	}
	pending.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
	b.ReportMetric(float64(b.N)/float64(commits.Load()), "puts/commit")
	close(work)
	workers.Wait()
}

// filledStore holds the whole pool, written in batches.
func filledStore(b *testing.B) *Store {
	b.Helper()
	s := benchStore(b)
	blocks := poolBlocks()
	var wg sync.WaitGroup
	for w := range benchBatch {
		wg.Go(func() {
			for i := w; i < benchPool; i += benchBatch {
				x := blocks[i]
				if err := s.Put(x.kt, x.rk, x.block, AreaStore); err != nil {
					b.Error(err)
				}
			}
		})
	}
	wg.Wait()
	return s
}

func filledRaw(b *testing.B) *bolt.DB {
	b.Helper()
	db := rawBolt(b)
	blocks := poolBlocks()
	for i := 0; i < benchPool; i += benchBatch {
		db.Update(func(tx *bolt.Tx) error {
			for _, x := range blocks[i : i+benchBatch] {
				if err := tx.Bucket([]byte("b")).Put(x.rk[:], x.block); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return db
}

func rawGet(db *bolt.DB, rk crypto.RoutingKey) ([]byte, error) {
	var out []byte
	err := db.View(func(tx *bolt.Tx) error {
		out = bytes.Clone(tx.Bucket([]byte("b")).Get(rk[:]))
		return nil
	})
	return out, err
}

// getter reads one block, the store's way or the raw way.
type getter func(x testBlock) error

func storeGetter(s *Store) getter {
	return func(x testBlock) error { _, err := s.Get(x.kt, x.rk); return err }
}

func rawGetter(db *bolt.DB) getter {
	return func(x testBlock) error {
		v, err := rawGet(db, x.rk)
		if err == nil && v == nil {
			err = ErrNotFound
		}
		return err
	}
}

// getSerial reads the pool round and round from one goroutine.
func getSerial(b *testing.B, get getter) {
	blocks := poolBlocks()
	b.SetBytes(crypto.CHKBlockSize)
	i := 0
	for b.Loop() {
		i += 7
		if err := get(blocks[i%benchPool]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "gets/s")
}

// getParallel reads the pool from GOMAXPROCS goroutines.
func getParallel(b *testing.B, get getter) {
	blocks := poolBlocks()
	b.SetBytes(crypto.CHKBlockSize)
	var n atomic.Int64
	b.ResetTimer() // the store was filled since the benchmark began
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := get(blocks[int(n.Add(7))%benchPool]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "gets/s")
}

// Warm gets: the file is in the page cache, as for the blocks a node serves often.
func BenchmarkGet(b *testing.B) {
	b.Run("warm", func(b *testing.B) { getSerial(b, storeGetter(filledStore(b))) })
	b.Run("raw-warm", func(b *testing.B) { getSerial(b, rawGetter(filledRaw(b))) })
	// The work every get must do beside the raw read: open an AES-256-GCM seal of the block and
	// hash the block to verify it. This is the floor for a store that seals and re-verifies.
	b.Run("raw-warm+open+verify", func(b *testing.B) {
		raw := rawGetter(filledRaw(b))
		blk, _ := aes.NewCipher(make([]byte, 32))
		aead, _ := cipher.NewGCM(blk)
		nonce := make([]byte, nonceSize)
		sealed := aead.Seal(nil, nonce, poolBlocks()[0].block, nil)
		getSerial(b, func(x testBlock) error {
			if err := raw(x); err != nil {
				return err
			}
			if _, err := aead.Open(make([]byte, 0, crypto.CHKBlockSize), nonce, sealed, nil); err != nil {
				return err
			}
			sha256.Sum256(x.block)
			return nil
		})
	})
	b.Run("warm-parallel", func(b *testing.B) { getParallel(b, storeGetter(filledStore(b))) })
	b.Run("raw-warm-parallel", func(b *testing.B) { getParallel(b, rawGetter(filledRaw(b))) })
}

func BenchmarkHas(b *testing.B) {
	s := filledStore(b)
	blocks := poolBlocks()
	i := 0
	for b.Loop() {
		x := blocks[i%benchPool]
		i += 7
		if !s.Has(x.kt, x.rk) {
			b.Fatal("missing")
		}
	}
}
