package tests

import (
	"context"
	"io"
	"net"
	"os"
	"runtime/pprof"
	"testing"
	"time"

	"lethe/cputime"
	"lethe/node"
	"lethe/routing"
)

// BenchmarkTestnetFetch fetches a file across a 12-node test network, cold: the fetching
// node keeps no store and no cache, so every block comes over the network, and it has
// never fetched the file before. Beside it, in the same run, the same bytes copied over a
// plain loopback TCP connection: the ratio is what counts. 64 MiB with LETHE_LONG=1, else
// 8 MiB. Run it with -benchtime 1x: a second fetch of the same file would find it cached
// along the way.
//
//	LETHE_LONG=1 go test -run '^$' -bench TestnetFetch -benchtime 1x ./tests
func BenchmarkTestnetFetch(b *testing.B) {
	size := 8 << 20
	if long() {
		size = 64 << 20
	}
	const fetcher = 6 // across the ring from node 0, where the file is inserted
	tn, _ := startTestnet(b, 12, func(i int, c *node.Config) {
		if i == fetcher {
			c.StoreBytes, c.CacheBytes = -1, -1
		}
	})
	data := randomBytes(size, 9)
	start := time.Now()
	uri := putFile(b, client(b, tn.Nodes[0]), data, "bench.bin")
	b.Logf("inserted %d MiB in %v; fetching at node %d, %d links from node 0", size>>20, time.Since(start).Round(time.Millisecond), fetcher, tn.Hops(0)[fetcher])
	c := client(b, tn.Nodes[fetcher])
	loopback := loopbackCopy(b, data)
	before := tn.Nodes[fetcher].Router().Stats().LocalRequests
	// total adds a router counter up over the network.
	total := func(counter func(routing.Stats) uint64) (n uint64) {
		for _, nd := range tn.Nodes {
			n += counter(nd.Router().Stats())
		}
		return n
	}
	relayed := func(s routing.Stats) uint64 { return s.Requests }
	timeouts := func(s routing.Stats) uint64 { return s.Timeouts }
	overloads := func(s routing.Stats) uint64 { return s.RejectedOverload }
	relayedBefore, timeoutsBefore, overloadBefore := total(relayed), total(timeouts), total(overloads)

	b.SetBytes(int64(size))
	if p := os.Getenv("LETHE_FETCH_PROFILE"); p != "" {
		// A CPU profile of the fetch alone, without the insert before it.
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	cpuBefore := cpuTime(b)
	b.ResetTimer()
	for b.Loop() {
		getFile(b, c, uri, io.Discard)
	}
	b.StopTimer()
	cpu := cpuTime(b) - cpuBefore
	perFetch := b.Elapsed() / time.Duration(b.N)
	rate := float64(size) / perFetch.Seconds() / 1e6
	b.ReportMetric(loopback, "loopback-MB/s")
	b.ReportMetric(rate/loopback, "ratio")
	requests := tn.Nodes[fetcher].Router().Stats().LocalRequests - before
	// CPU time of the whole process (all twelve nodes and the client) per byte: the figure
	// that varies least with what else runs on the machine.
	mbPerCPU := float64(size) * float64(b.N) / cpu.Seconds() / 1e6
	b.ReportMetric(mbPerCPU, "MB/cpu-s")
	b.Logf("during the fetch: %d requests not accepted in time, %d refused for load", total(timeouts)-timeoutsBefore, total(overloads)-overloadBefore)
	hops := float64(total(relayed)-relayedBefore) / float64(requests)
	b.ReportMetric(hops, "hops/block")
	b.Logf("fetch %.1f MB/s (%.1f MB per CPU-second), loopback copy %.0f MB/s; %d block requests went to the network, %.1f hops each on average", rate, mbPerCPU, loopback, requests, hops)
}

// loopbackCopy copies data over a plain TCP connection on 127.0.0.1 and returns MB/s.
func loopbackCopy(tb testing.TB, data []byte) float64 {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer conn.Close()
		_, err = io.Copy(io.Discard, conn)
		done <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	if _, err := conn.Write(data); err != nil {
		tb.Fatal(err)
	}
	conn.Close()
	if err := <-done; err != nil {
		tb.Fatal(err)
	}
	return float64(len(data)) / time.Since(start).Seconds() / 1e6
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(tb testing.TB) time.Duration {
	d, err := cputime.Process()
	if err != nil {
		tb.Fatal(err)
	}
	return d
}
