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
	b.Run("cold", func(b *testing.B) {
		s := filledStore(b)
		getCold(b, s.path, func() (getter, func()) {
			s, err := Open(s.path, Options{StoreBytes: 4 << 30, CacheBytes: 1 << 30})
			if err != nil {
				b.Fatal(err)
			}
			return storeGetter(s), func() { s.Close() }
		}, func() { s.Close() })
	})
	b.Run("raw-cold", func(b *testing.B) {
		db := filledRaw(b)
		path := db.Path() // bbolt forgets it on Close
		getCold(b, path, func() (getter, func()) {
			db, err := bolt.Open(path, 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType, NoStatistics: true,
				InitialMmapSize: mmapSize(4<<30, 1<<30)})
			if err != nil {
				b.Fatal(err)
			}
			return rawGetter(db), func() { db.Close() }
		}, func() { db.Close() })
	})
}

// getCold closes the filled file, drops it from the page cache, reopens it and reads every
// block once in random order, again and again.
func getCold(b *testing.B, path string, reopen func() (getter, func()), closeFilled func()) {
	blocks := poolBlocks()
	order := rand.New(rand.NewPCG(1, 2)).Perm(benchPool)
	closeFilled()
	var (
		get       getter
		closeLast = func() {}
	)
	fresh := func() {
		closeLast()
		dropPageCache(b, path)
		get, closeLast = reopen()
	}
	fresh()
	defer func() { closeLast() }()
	b.SetBytes(crypto.CHKBlockSize)
	c := &cursor{b: b, fresh: fresh}
	for b.Loop() {
		if err := get(blocks[order[c.take(1)]]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "gets/s")
}
