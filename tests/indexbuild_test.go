package tests

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lethe/crawl"
	"lethe/crypto"
	"lethe/index"
	"lethe/insert"
)

// TestIndexBuildMemory builds indexes of growing parts of the documentation corpus in this
// process, inserting nothing (the nodes' keys are computed and the blocks dropped), and
// reports the time and the peak heap of each build: the peak must not grow with the corpus
// (spec §21.4). Small in CI; with LETHE_LONG=1, 2,500, 5,000 and 10,000 of Debian's
// documents.
func TestIndexBuildMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds several indexes; not in -short")
	}
	sizes, run := []int{100, 400}, 20000
	if long() {
		installDocs(t)
		sizes, run = []int{2500, 5000, 10000}, 1<<18 // every build spills runs
	}
	sites := gatherDocs(t, "/usr/share/doc", t.TempDir(), sizes[len(sizes)-1], 64<<10)
	docs := 0
	for _, s := range sites {
		docs += s.files
	}
	if docs < sizes[len(sizes)-1] {
		t.Skipf("only %d documents under /usr/share/doc", docs)
	}
	var peaks []uint64
	for _, n := range sizes {
		corpus := func(yield func(index.Doc) error) error {
			i := 0
			for j, s := range sites {
				u := crypto.RequestURI{Type: crypto.CHK}
				u.Key[0] = byte(j)
				err := crawl.Dir(s.dir, u, 0)(func(d index.Doc) error {
					if i >= n {
						return nil
					}
					i++
					return yield(d)
				})
				if err != nil {
					return err
				}
			}
			return nil
		}
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		peak := heapPeak()
		start := time.Now()
		rep, err := index.Publish(context.Background(), nil, index.InsertPutter{P: insert.Discard}, crypto.InsertURI{Type: crypto.CHK}, nil, corpus,
			index.Options{TempDir: t.TempDir(), RunPostings: run})
		took := time.Since(start)
		p := peak()
		if err != nil {
			t.Fatal(err)
		}
		peaks = append(peaks, p)
		t.Logf("%d documents, %d postings, %d nodes, %d runs: built in %v, heap at most %.1f MiB (%.1f MiB before)",
			rep.Root.Docs, rep.Build.Postings, rep.Build.Nodes, rep.Build.Runs, took.Round(time.Millisecond),
			float64(p)/(1<<20), float64(base.HeapInuse)/(1<<20))
	}
	// Four times the documents may not take more than a third more memory, give or take
	// 8 MiB of the garbage collector's slack.
	if first, last := peaks[0], peaks[len(peaks)-1]; float64(last) > 1.34*float64(first)+8<<20 {
		t.Errorf("the peak heap grew from %d to %d bytes with the corpus", first, last)
	}
}

// heapPeak samples the heap in use every few milliseconds until the returned function is
// called, which returns the largest sample.
func heapPeak() func() uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	return func() uint64 {
		close(stop)
		wg.Wait()
		return peak.Load()
	}
}
