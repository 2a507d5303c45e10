package filetest

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/fetch"
	"lethe/insert"
	"lethe/metadata"
)

// TestMemoryBounded: inserting and fetching a large file holds a bounded amount of memory,
// well under 256 MiB, whatever the file's size (32 MiB here, 1 GiB with LETHE_LONG=1). The
// insert goes to Discard so that only the pipeline is measured; the fetch is measured above
// the store that holds the blocks. What is measured is the live heap found by each garbage
// collection, with collections made frequent so that none is missed for long.
func TestMemoryBounded(t *testing.T) {
	size := int64(32 << 20)
	if long() {
		size = 1 << 30
	}
	const limit = 256 << 20
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	base := liveHeap()
	peak := sampleHeap()
	if _, err := insert.File(context.Background(), insert.Discard, chk(), io.LimitReader(newChaCha(3), size), insert.Config{}); err != nil {
		t.Fatal(err)
	}
	insertPeak := peak() - min(base, peak())

	st := NewStore()
	uri, err := insert.File(context.Background(), st, chk(), io.LimitReader(newChaCha(4), size), insert.Config{})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	base = liveHeap()
	peak = sampleHeap()
	if _, err := fetch.New(st, fetch.Config{MaxSize: size}).Fetch(context.Background(), uri, io.Discard); err != nil {
		t.Fatal(err)
	}
	fetchPeak := peak() - min(base, peak())
	t.Logf("%d MiB file: insert peak %d MiB, fetch peak %d MiB above the store", size>>20, insertPeak>>20, fetchPeak>>20)
	if insertPeak > limit || fetchPeak > limit {
		t.Errorf("insert peak %d MiB, fetch peak %d MiB: over %d MiB", insertPeak>>20, fetchPeak>>20, limit>>20)
	}
}

// sampleHeap samples the heap until the returned function is called, which returns the peak.
func sampleHeap() func() uint64 {
	stop, done := make(chan struct{}), make(chan uint64)
	go func() {
		var peak uint64
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				done <- max(peak, liveHeap())
				return
			case <-t.C:
				peak = max(peak, liveHeap())
			}
		}
	}()
	var result uint64
	var finished bool
	return func() uint64 {
		if !finished {
			close(stop)
			result, finished = <-done, true
		}
		return result
	}
}

var liveSample = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}

// liveHeap is the heap the last garbage collection found live.
func liveHeap() uint64 {
	metrics.Read(liveSample)
	return liveSample[0].Value.Uint64()
}

// lossyStore answers not-found for a fixed set of keys: a network that lost them.
type lossyStore struct {
	*Store
	lost map[crypto.RoutingKey]bool
}

func (l lossyStore) GetBlock(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey, attempt int) ([]byte, error) {
	if l.lost[rk] {
		return nil, fetch.ErrBlockNotFound
	}
	return l.Store.GetBlock(ctx, kt, rk, attempt)
}

// fetchSuccess fetches uri trials times, each with every splitfile block lost independently
// with probability p, and returns the share of fetches that returned the content.
func fetchSuccess(tb testing.TB, st *Store, uri crypto.RequestURI, sf *metadata.Splitfile, p float64, trials int, seed uint64) float64 {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, uint64(p*1000)))
	ok := 0
	for range trials {
		lost := map[crypto.RoutingKey]bool{}
		for _, s := range sf.Segments {
			for _, rk := range s.Routing {
				if rng.Float64() < p {
					lost[rk] = true
				}
			}
		}
		_, err := fetch.New(lossyStore{st, lost}, fetch.Config{Attempts: 1}).Fetch(context.Background(), uri, io.Discard)
		if err == nil {
			ok++
		}
	}
	return float64(ok) / float64(trials)
}

// TestFetchUnderRandomLoss measures, with the real fetcher, how often a file comes back when
// each of its blocks is lost at random: always at 30%, almost never at 55%, where the 100%
// redundancy of a segment runs out.
func TestFetchUnderRandomLoss(t *testing.T) {
	st := NewStore()
	size, trials := seg, 4
	if long() {
		size, trials = 4*seg, 100
	}
	uri := insertBytes(t, st, randomBytes(47, size), insert.Config{})
	sf := splitfileOf(t, st, uri)
	var row []string
	for _, p := range []float64{0.30, 0.40, 0.45, 0.50, 0.55} {
		s := fetchSuccess(t, st, uri, sf, p, trials, 1)
		row = append(row, fmt.Sprintf("%.0f%%: %.3f", p*100, s))
		switch {
		case p <= 0.30 && s < 1:
			t.Errorf("at %.0f%% loss only %.2f of fetches succeeded", p*100, s)
		case p >= 0.55 && s > 0.25:
			t.Errorf("at %.0f%% loss %.2f of fetches succeeded: more than the code can repair", p*100, s)
		}
	}
	t.Logf("%d MiB file, %d trials: %s", size>>20, trials, strings.Join(row, ", "))
}

// TestLossTable computes the table of spec §13.2: the chance that a file of a given size can
// be rebuilt when each block is lost independently with probability p, for the segment layout
// an inserter makes. It is exact (a product of binomial tails), not sampled; go test -v
// prints it.
func TestLossTable(t *testing.T) {
	losses := []float64{0.1, 0.2, 0.3, 0.35, 0.4, 0.45, 0.5}
	var b strings.Builder
	fmt.Fprintf(&b, "\n| file | segments |")
	for _, p := range losses {
		fmt.Fprintf(&b, " %.0f%% |", p*100)
	}
	b.WriteString("\n")
	for _, size := range []int64{64 << 10, 1 << 20, 16 << 20, 256 << 20, 4 << 30} {
		// The inserter's layout: full segments, the last blocks shared between the last two.
		blocks := int(metadata.DataBlockCount(size))
		count := map[int]int{} // data blocks per segment → segments
		for blocks > 2*metadata.SegmentDataBlocks {
			count[metadata.SegmentDataBlocks]++
			blocks -= metadata.SegmentDataBlocks
		}
		segs := 0
		for _, k := range metadata.SplitEvenly(blocks) {
			count[k]++
		}
		for _, n := range count {
			segs += n
		}
		fmt.Fprintf(&b, "| %s | %d |", human(size), segs)
		for _, p := range losses {
			logOK := 0.0
			for k, n := range count {
				logOK += float64(n) * math.Log1p(-failure(k, metadata.CheckBlocks(k), p))
			}
			ok := math.Exp(logOK)
			if p <= 0.3 && ok < 0.9999 {
				t.Errorf("%s at %.0f%% loss: rebuilt with probability %.6f", human(size), p*100, ok)
			}
			fmt.Fprintf(&b, " %s |", prob(ok))
		}
		b.WriteString("\n")
	}
	t.Log(b.String())
}

func failure(k, m int, p float64) float64 {
	n := k + m
	sum := 0.0
	for j := m + 1; j <= n; j++ {
		a, _ := math.Lgamma(float64(n + 1))
		c, _ := math.Lgamma(float64(j + 1))
		d, _ := math.Lgamma(float64(n - j + 1))
		sum += math.Exp(a - c - d + float64(j)*math.Log(p) + float64(n-j)*math.Log1p(-p))
	}
	return sum
}

func prob(x float64) string {
	if x > 0.999999 {
		return "> 0.999999"
	}
	if x < 1e-6 {
		return "< 0.000001"
	}
	return fmt.Sprintf("%.6f", x)
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}
