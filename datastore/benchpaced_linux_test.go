package datastore

import (
	"crypto/sha256"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lethe/crypto"
)

// BenchmarkPaced puts blocks as the relays and sinks of an insert do: 8 goroutines, each
// pausing 20 ms between puts, two puts in five into the cache and the rest into the store,
// with fsync on commit. It reports the puts per commit and the CPU time of the process per
// put, with the cache's puts committed at once ("delay-0") and waiting for company as a
// node's do ("delay-100ms", DefaultSharedCommitDelay). Each block is put once, so b.N is at
// most the pool of distinct blocks:
//
//	go test ./datastore -run '^$' -bench Paced -benchtime 2000x
func BenchmarkPaced(b *testing.B) {
	blocks := poolBlocks()
	for _, delay := range []time.Duration{0, DefaultSharedCommitDelay} {
		b.Run("delay-"+delay.String(), func(b *testing.B) {
			if b.N > benchPool {
				b.Skipf("b.N %d is more than the %d distinct blocks; use -benchtime %dx or less", b.N, benchPool, benchPool)
			}
			s, err := Open(filepath.Join(b.TempDir(), "store.db"), Options{StoreBytes: 4 << 30, CacheBytes: 1 << 30, SharedCommitDelay: delay})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var next atomic.Int64
			b.SetBytes(crypto.CHKBlockSize)
			b.SetParallelism(4) // 8 putters on 2 cores
			c0 := cpuTime(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) - 1
					area := AreaStore
					if i%5 < 2 {
						area = AreaCache
					}
					x := blocks[i]
					if err := s.Put(x.kt, x.rk, x.block, area); err != nil {
						b.Error(err)
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
			})
			cpu := cpuTime(b) - c0
			b.ReportMetric(float64(b.N)/float64(max(s.commits.Load(), 1)), "puts/commit")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/put")
			b.ReportMetric(float64(b.N)*crypto.CHKBlockSize/1e6/cpu.Seconds(), "MB/cpu-s")
		})
	}
}

// BenchmarkPutVerified compares, in alternating phases of 64 concurrent puts (one group
// commit, fsync on), the CPU of Put, which verifies the block (SHA-256 of 32 KiB), with that
// of PutVerified, which trusts the router's verification, beside the SHA-256 of the same
// blocks alone, the raw limit the difference should come to:
//
//	go test ./datastore -run '^$' -bench PutVerified -benchtime 30x -count 3
func BenchmarkPutVerified(b *testing.B) {
	blocks := poolBlocks()
	const n = benchBatch
	s := benchStore(b)
	putAll := func(first int, put func(kt crypto.KeyType, rk crypto.RoutingKey, block []byte, area Area) error) {
		var wg sync.WaitGroup
		for _, x := range blocks[first : first+n] {
			wg.Go(func() {
				if err := put(x.kt, x.rk, x.block, AreaStore); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
	phases := []struct {
		name string
		run  func(first int)
	}{
		{"put", func(first int) { putAll(first, s.Put) }},
		{"put-verified", func(first int) {
			putAll(first, func(kt crypto.KeyType, rk crypto.RoutingKey, block []byte, area Area) error {
				return s.PutVerified(kt, rk, block, area, CommitAtOnce)
			})
		}},
		{"sha256", func(first int) {
			for _, x := range blocks[first : first+n] {
				sha256.Sum256(x.block)
			}
		}},
	}
	cpu := make([]time.Duration, len(phases))
	c := &cursor{b: b, fresh: func() { s.Close(); s = benchStore(b) }}
	b.SetBytes(int64(len(phases) * n * crypto.CHKBlockSize))
	for b.Loop() {
		for i, p := range phases {
			first := c.take(n)
			c0 := cpuTime(b)
			p.run(first)
			cpu[i] += cpuTime(b) - c0
		}
	}
	for i, p := range phases {
		b.ReportMetric(float64(cpu[i].Microseconds())/float64(b.N*n), p.name+"-cpu-µs/op")
	}
}
