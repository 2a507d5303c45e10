package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lethe/insert"
)

// loadResult is what a load run measured.
type loadResult struct {
	requests, errors int
	elapsed          time.Duration
	p50, p99         time.Duration
	firstErr         error
}

func (r loadResult) rate() float64 { return float64(r.requests) / r.elapsed.Seconds() }

func (r loadResult) String() string {
	return fmt.Sprintf("%d requests in %v: %.0f req/s (%.0f MiB/s), p50 %v, p99 %v, %d errors",
		r.requests, r.elapsed.Round(time.Millisecond), r.rate(), r.rate()*float64(loadSize)/(1<<20),
		r.p50.Round(time.Millisecond), r.p99.Round(time.Millisecond), r.errors)
}

const loadSize = 1 << 20

// load has clients concurrent clients fetch url over and over for d, each checking that it
// got size bytes with status 200, and measures the rate and latency.
func load(url string, clients int, d time.Duration, size int64) loadResult {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      int
		firstErr  error
		wg        sync.WaitGroup
	)
	start := time.Now()
	for range clients {
		wg.Go(func() {
			var mine []time.Duration
			buf := make([]byte, 64<<10)
			for ctx.Err() == nil {
				t0 := time.Now()
				err := fetchOnce(ctx, client, url, size, buf)
				if ctx.Err() != nil {
					break // cut short by the end of the run, not a failure
				}
				mu.Lock()
				if err != nil {
					errs++
					if firstErr == nil {
						firstErr = err
					}
				}
				mu.Unlock()
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(latencies)
	r := loadResult{requests: len(latencies), errors: errs, elapsed: time.Since(start), firstErr: firstErr}
	if n := len(latencies); n > 0 {
		r.p50, r.p99 = latencies[n/2], latencies[min(n-1, n*99/100)]
	}
	return r
}

func fetchOnce(ctx context.Context, client *http.Client, url string, size int64, buf []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin") // a page of the proxy's asks
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.CopyBuffer(io.Discard, resp.Body, buf)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || n != size {
		return fmt.Errorf("status %d with %d bytes", resp.StatusCode, n)
	}
	return nil
}

// peakMemory samples the heap until stop is closed and returns the largest heap in use and
// the most memory obtained from the system.
func peakMemory(stop <-chan struct{}) (heap, sys uint64) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		heap, sys = max(heap, m.HeapInuse), max(sys, m.Sys)
		select {
		case <-stop:
			return heap, sys
		case <-t.C:
		}
	}
}

// TestLoad: 200 clients fetch a 1 MiB file that the node holds, for 2 seconds (20 with
// LETHE_LONG=1), without an error, and the memory stays bounded. The same load against a
// plain Go HTTP server that writes the same bytes from memory is the raw limit beside it.
func TestLoad(t *testing.T) {
	clients, d := 200, 2*time.Second
	if long() {
		d = 20 * time.Second
	}
	data := randomBytes(11, loadSize)

	raw := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go raw.Serve(ln)
	baseline := load("http://"+ln.Addr().String()+"/", clients, d/4, loadSize)
	raw.Close()

	p := newTestProxy(t, Config{})
	uri := insertFile(t, p.st, data, insert.Config{Name: "film.mp4"})
	url := p.url + pathOf(uri)
	if err := fetchOnce(context.Background(), http.DefaultClient, url, loadSize, make([]byte, 64<<10)); err != nil {
		t.Fatal(err) // and the file's metadata is now cached, as a node's store holds its blocks
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	stop := make(chan struct{})
	var heap, sys atomic.Uint64
	sampled := make(chan struct{})
	go func() {
		h, s := peakMemory(stop)
		heap.Store(h)
		sys.Store(s)
		close(sampled)
	}()
	res := load(url, clients, d, loadSize)
	close(stop)
	<-sampled

	t.Logf("raw Go HTTP server:  %v", baseline)
	t.Logf("proxy:               %v", res)
	t.Logf("proxy / raw:         %.2f of the requests per second", res.rate()/baseline.rate())
	t.Logf("memory: heap in use %d MiB before, %d MiB at most under load; %d MiB from the system (clients included)",
		before.HeapInuse>>20, heap.Load()>>20, sys.Load()>>20)
	if res.errors > 0 || res.requests == 0 {
		t.Errorf("%d errors in %d requests; the first: %v", res.errors, res.requests, res.firstErr)
	}
	// The fetches hold at most fetchBudget together; the clients' and the connections'
	// buffers come on top. 512 MiB would mean the budget is not holding.
	if h := heap.Load(); h > 512<<20 {
		t.Errorf("heap in use reached %d MiB under load", h>>20)
	}
}
