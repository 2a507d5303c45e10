package datastore

import (
	"math/rand/v2"
	"os"
	"syscall"
	"testing"

	bolt "go.etcd.io/bbolt"

	"lethe/crypto"
)

// dropPageCache asks the kernel to forget a closed file's cached pages (posix_fadvise
// DONTNEED), so that the next reads come from the disk.
func dropPageCache(b *testing.B, path string) {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	const fadvDontNeed = 4
	if _, _, errno := syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvDontNeed, 0, 0); errno != 0 {
		b.Fatalf("fadvise: %v", errno)
	}
}

// Cold gets: every block is read once, in random order, after the file left the page cache,
// as for the blocks a node is asked for rarely. When all have been read, the cache is dropped
// again with the timer stopped.
func BenchmarkGetCold(b *testing.B) {
	blocks := poolBlocks()
	order := rand.New(rand.NewPCG(1, 2)).Perm(benchPool)
	b.Run("cold", func(b *testing.B) {
		s := filledStore(b)
		path := s.path
		reopen := func() {
			s.Close()
			dropPageCache(b, path)
			var err error
			if s, err = Open(path, Options{StoreBytes: 4 << 30, CacheBytes: 1 << 30}); err != nil {
				b.Fatal(err)
			}
		}
		reopen()
		defer func() { s.Close() }()
		b.SetBytes(crypto.CHKBlockSize)
		c := &cursor{b: b, fresh: reopen}
		for b.Loop() {
			x := blocks[order[c.take(1)]]
			if _, err := s.Get(x.kt, x.rk); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "gets/s")
	})
	b.Run("raw-cold", func(b *testing.B) {
		db := filledRaw(b)
		path := db.Path()
		reopen := func() {
			db.Close()
			dropPageCache(b, path)
			var err error
			if db, err = bolt.Open(path, 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType, NoStatistics: true,
				InitialMmapSize: mmapSize(4<<30, 1<<30)}); err != nil {
				b.Fatal(err)
			}
		}
		reopen()
		defer func() { db.Close() }()
		b.SetBytes(crypto.CHKBlockSize)
		c := &cursor{b: b, fresh: reopen}
		for b.Loop() {
			x := blocks[order[c.take(1)]]
			if v, err := rawGet(db, x.rk); err != nil || v == nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "gets/s")
	})
}
