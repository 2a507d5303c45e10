package datastore

import (
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"lethe/crypto"
)

// BenchmarkPaced puts blocks as the relays and sinks of an insert do: 8 goroutines, each
// pausing 20 ms between puts, two puts in five into the cache and the rest into the store,
// with fsync on commit. It reports the puts per commit and the CPU time of the process per
// put, with the cache's puts committed at once ("delay-0") and waiting for company as a
// node's do ("delay-100ms", DefaultCacheCommitDelay). Each block is put once, so b.N is at
// most the pool of distinct blocks:
//
//	go test ./datastore -run '^$' -bench Paced -benchtime 2000x
func BenchmarkPaced(b *testing.B) {
	blocks := poolBlocks()
	for _, delay := range []time.Duration{0, DefaultCacheCommitDelay} {
		b.Run("delay-"+delay.String(), func(b *testing.B) {
			if b.N > benchPool {
				b.Skipf("b.N %d is more than the %d distinct blocks; use -benchtime %dx or less", b.N, benchPool, benchPool)
			}
			s, err := Open(filepath.Join(b.TempDir(), "store.db"), Options{StoreBytes: 4 << 30, CacheBytes: 1 << 30, CacheCommitDelay: delay})
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
