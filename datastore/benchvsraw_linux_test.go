package datastore

import (
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"lethe/crypto"
)

// This machine's disk and cores are shared, and their speed swings by several times from one
// second to the next. Benchmarks run one after the other then compare different moments. The
// benchmarks here alternate the store and raw bbolt in short phases inside one benchmark, so
// that both meet the same conditions, and report each one's rate and their ratio
// (store rate / raw rate). b.SetBytes counts the bytes of both. They also report the CPU time
// the process spent per operation (all threads, so the writer's and the GC's too): on a
// loaded machine the wall-clock rate says more about the neighbours, the CPU time says what
// one operation costs, and 2 cores ÷ CPU time is what this machine can do when it is idle.

// alternate runs a phase of the store and a phase of raw bbolt per iteration; each phase does
// n operations on the blocks from index first on. When the pool is used up, the fresh
// functions (if any) start new files, outside the timing.
func alternate(b *testing.B, unit string, n int, store, raw func(first, n int), freshStore, freshRaw func()) {
	b.Helper()
	var tStore, tRaw, cpuStore, cpuRaw time.Duration
	cStore := &cursor{b: b, fresh: freshStore}
	cRaw := &cursor{b: b, fresh: freshRaw}
	b.SetBytes(int64(2 * n * crypto.CHKBlockSize))
	for b.Loop() {
		first := cStore.take(n)
		t0, c0 := time.Now(), cpuTime(b)
		store(first, n)
		tStore += time.Since(t0)
		cpuStore += cpuTime(b) - c0
		first = cRaw.take(n)
		t0, c0 = time.Now(), cpuTime(b)
		raw(first, n)
		tRaw += time.Since(t0)
		cpuRaw += cpuTime(b) - c0
	}
	ops := float64(b.N * n)
	b.ReportMetric(ops/tStore.Seconds(), unit+"/s")
	b.ReportMetric(ops/tRaw.Seconds(), "raw-"+unit+"/s")
	b.ReportMetric(tRaw.Seconds()/tStore.Seconds(), "ratio")
	b.ReportMetric(float64(cpuStore.Microseconds())/ops, "cpu-µs/op")
	b.ReportMetric(float64(cpuRaw.Microseconds())/ops, "raw-cpu-µs/op")
}

// cpuTime is the user and system time the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkVsRaw(b *testing.B) {
	blocks := poolBlocks()
	rawPut := func(db func() *bolt.DB) func(first, n int) {
		return func(first, n int) {
			err := db().Update(func(tx *bolt.Tx) error {
				for _, x := range blocks[first : first+n] {
					if err := tx.Bucket([]byte("b")).Put(x.rk[:], x.block); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("put-single", func(b *testing.B) {
		s, db := benchStore(b), rawBolt(b)
		alternate(b, "puts", 1, func(first, n int) {
			x := blocks[first]
			if err := s.Put(x.kt, x.rk, x.block, AreaStore); err != nil {
				b.Fatal(err)
			}
		}, func(first, n int) {
			rawPut(func() *bolt.DB { return db })(first, 1)
		}, func() { s.Close(); s = benchStore(b) }, func() { db.Close(); db = rawBolt(b) })
	})
	// The store's puts come from benchBatch goroutines at once and are group-committed; raw
	// bbolt puts the same number of blocks in one transaction, which is its best case.
	b.Run("put-batched", func(b *testing.B) {
		s, db := benchStore(b), rawBolt(b)
		alternate(b, "puts", benchBatch*4, func(first, n int) {
			var wg sync.WaitGroup
			for w := range benchBatch {
				wg.Go(func() {
					for i := first + w; i < first+n; i += benchBatch {
						x := blocks[i]
						if err := s.Put(x.kt, x.rk, x.block, AreaStore); err != nil {
							b.Error(err)
						}
					}
				})
			}
			wg.Wait()
		}, func(first, n int) {
			for i := first; i < first+n; i += benchBatch {
				rawPut(func() *bolt.DB { return db })(i, benchBatch)
			}
		}, func() { s.Close(); s = benchStore(b) }, func() { db.Close(); db = rawBolt(b) })
	})
	b.Run("get-warm", func(b *testing.B) {
		get, raw := storeGetter(filledStore(b)), rawGetter(filledRaw(b))
		run := func(g getter) func(first, n int) {
			return func(first, n int) {
				for _, x := range blocks[first : first+n] {
					if err := g(x); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
		alternate(b, "gets", 64, run(get), run(raw), nil, nil)
	})
	b.Run("get-warm-parallel", func(b *testing.B) {
		get, raw := storeGetter(filledStore(b)), rawGetter(filledRaw(b))
		run := func(g getter) func(first, n int) {
			return func(first, n int) {
				var wg sync.WaitGroup
				for w := range 2 {
					wg.Go(func() {
						for i := first + w; i < first+n; i += 2 {
							if err := g(blocks[i]); err != nil {
								b.Error(err)
							}
						}
					})
				}
				wg.Wait()
			}
		}
		alternate(b, "gets", 128, run(get), run(raw), nil, nil)
	})
}
