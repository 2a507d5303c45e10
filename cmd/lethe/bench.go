package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"lethe/cputime"
	"lethe/crypto"
	"lethe/fcp"
	"lethe/node"
	"lethe/proxy/filter"
)

func init() {
	register(&command{
		name: "bench",
		args: "[-nodes 12] [-sizes 1,64,256] [--dir DIR] [-cpuprofile PREFIX]",
		summary: `Measure a test network on this machine and print one table of the figures.
It starts a test network as ` + "`lethe testnet`" + ` does, inserts a file of each size (in MiB) at one
node as ` + "`lethe insert FILE`" + ` does (the file written to disk first, the node reading it by its
path) and fetches it at the node farthest away, which keeps no store and no cache, so that
every fetch is cold. Beside the insert and fetch speeds it
measures, in the same run, the raw limits of this machine (SHA-256, AES-256-GCM, a loopback
TCP copy) and the CPU one link costs a block at least (TLS, SHA-256, the store), the time to
the first byte of a file never fetched before through the browsing proxy, and the memory of
the process that runs the nodes. Beside each transfer it prints the links each block crossed,
counted from the nodes' routing events, and the CPU spent per MB per link. With -cpuprofile,
each phase of each size writes a CPU profile (PREFIX-insert-64MiB.pprof, …) for go tool pprof,
and the heap's allocations as the phase starts and ends (PREFIX-insert-64MiB-allocs-start.pprof and
-allocs-end.pprof: go tool pprof -sample_index=alloc_space -base START END).`,
		run: runBench,
	})
}

// benchTTFBFiles is how many files the time to first byte is measured on, each fetched once.
const benchTTFBFiles = 3

func runBench(ctx context.Context, e *env, args []string) error {
	flags := newFlags(e, commands["bench"])
	var (
		n       = flags.Int("nodes", node.DefaultTestnetNodes, "number of nodes")
		sizes   = flags.String("sizes", "1,64,256", "the files to insert and fetch, in MiB, separated by commas")
		dir     = flags.String("dir", "", "keep the nodes' data directories here (default: a temporary directory, removed on exit)")
		seed    = flags.Uint64("seed", 1, "picks the long links and the files' bytes")
		verbose = flags.Bool("v", false, "log more")
		profile = flags.String("cpuprofile", "", "write a CPU profile of each phase to files named PREFIX-PHASE-SIZE.pprof")
	)
	pos, err := parseFlags(flags, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError("bench", "bench takes no arguments")
	}
	if *n < 2 || *n > 200 {
		return usageError("bench", "-nodes must be between 2 and 200, not %d", *n)
	}
	mib, err := parseSizes(*sizes)
	if err != nil {
		return usageError("bench", "-sizes: %v", err)
	}
	b := &bench{w: e.stdout, seed: *seed, profile: *profile}

	fmt.Fprintln(e.stderr, "measuring this machine's raw limits…")
	b.raw = measureRaw()
	if b.floor, err = measureFloor(ctx, *dir); err != nil {
		return fail(exitFailed, "", "measure a link's floor: %v", err)
	}
	fmt.Fprintf(e.stderr, "starting %d nodes…\n", *n)
	b.mem.start()
	defer b.mem.stop()
	const fetcher = 0 // the node with the browsing proxy
	// The fetching node keeps no cache, so that every block it fetches comes over the network;
	// and no store from 5 nodes on. In fewer, its neighbours alone would be left to keep the
	// keys nearest to it, and some blocks would be kept nowhere: there it keeps a store, and
	// the fetch reads those blocks from its own disk (the header says so).
	fetcherStores := *n < 5
	tn, err := node.StartTestnet(ctx, node.TestnetConfig{
		Nodes: *n, Dir: *dir, FCPAddr: "127.0.0.1:0", ProxyAddr: "127.0.0.1:0", Seed: *seed,
		Logger: textLogger(e.stderr, *verbose),
		Edit: func(i int, c *node.Config) {
			if i == fetcher {
				c.CacheBytes = -1
				if !fetcherStores {
					c.StoreBytes = -1
				}
			}
			c.Trace = b.links.event
		},
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fail(exitFailed, "", "start the test network: %v", err)
	}
	defer tn.Close()
	b.idle = b.mem.sample()
	inserter := tn.Farthest(fetcher)
	ic, err := dialBench(ctx, tn.Nodes[inserter])
	if err != nil {
		return err
	}
	defer ic.Close()
	fc, err := dialBench(ctx, tn.Nodes[fetcher])
	if err != nil {
		return err
	}
	defer fc.Close()
	hops := tn.Hops(inserter)[fetcher]
	keeps := "which keeps no store and no cache: every fetch is cold"
	if fetcherStores {
		keeps = "which keeps no cache but, in so few nodes, a store: the blocks nearest to it are read from its own disk"
	}
	fmt.Fprintf(b.w, "lethe bench: %d nodes on 127.0.0.1, %d links; insert at node %d, fetch at node %d, %d %s away, %s.\n",
		len(tn.Nodes), len(tn.Links), inserter, fetcher, hops, map[bool]string{true: "link", false: "links"}[hops == 1], keeps)
	b.printRaw()

	files, err := os.MkdirTemp(*dir, "lethe-bench-files-")
	if err != nil {
		return fail(exitFile, "", "a directory for the files to insert: %v", err)
	}
	defer os.RemoveAll(files)

	b.printTransferHead()
	for i, m := range mib {
		fmt.Fprintf(e.stderr, "inserting and fetching %d MiB…\n", m)
		t, err := b.transfer(ctx, ic, fc, files, m<<20, uint64(i))
		if err != nil {
			return err
		}
		b.printTransfer(t) // as it comes: a large file takes minutes
	}
	b.printTransferFoot()

	fmt.Fprintln(e.stderr, "time to first byte through the proxy…")
	if err := b.timeToFirstByte(ctx, ic, "http://"+tn.Nodes[fetcher].ProxyAddr()); err != nil {
		return err
	}
	b.printMemory(len(tn.Nodes))
	return nil
}

// parseSizes reads "1,64,256": sizes in MiB, 1 to 65536 each.
func parseSizes(s string) ([]int64, error) {
	var mib []int64
	for f := range strings.SplitSeq(s, ",") {
		m, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil || m < 1 || m > 65536 {
			return nil, fmt.Errorf("%q is not a size in MiB from 1 to 65536", f)
		}
		mib = append(mib, m)
	}
	return mib, nil
}

func dialBench(ctx context.Context, n *node.Node) (*fcp.Client, error) {
	c, err := fcp.Dial(ctx, n.FCPAddr())
	if err != nil {
		return nil, fail(exitFailed, "", "connect to a node of the test network: %v", err)
	}
	if _, err := c.Hello(ctx, fmt.Sprintf("lethe-bench-%d", rand.Uint64())); err != nil {
		c.Close()
		return nil, fail(exitFailed, "", "connect to a node of the test network: %v", err)
	}
	return c, nil
}

// bench holds the figures of one run.
type bench struct {
	w       io.Writer
	seed    uint64
	profile string // prefix of the CPU profiles' files; "" for none
	raw     rawLimits
	floor   linkFloor
	links   linkCounter
	mem     memSampler
	idle    memSample // just after the network started
}

// rawLimits are what this machine does with each byte at best, in MB/s.
type rawLimits struct {
	sha256, aesGCM, loopback float64
}

// onePass is the speed of hashing, sealing and copying each byte once, one after the other:
// the floor of what an insert or a fetch costs a byte, before any network.
func (r rawLimits) onePass() float64 {
	return 1 / (1/r.sha256 + 1/r.aesGCM + 1/r.loopback)
}

// measureRaw measures the raw limits on buffers small enough not to weigh on the memory
// figures: SHA-256 and AES-256-GCM over blocks of crypto.CHKDataSize, the size of every
// block a file is cut into, and a TCP copy over 127.0.0.1. Each is the best of several short
// rounds, so that a moment when other work has the CPU does not count as the machine's limit.
func measureRaw() rawLimits {
	buf := make([]byte, crypto.CHKDataSize)
	rand.NewChaCha8([32]byte{1}).Read(buf)
	var r rawLimits
	r.sha256 = bestRate(func() int { sum := sha256.Sum256(buf); buf[0] ^= sum[0]; return len(buf) })
	block, _ := aes.NewCipher(make([]byte, 32))
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, gcm.NonceSize())
	out := make([]byte, 0, len(buf)+gcm.Overhead())
	r.aesGCM = bestRate(func() int { out = gcm.Seal(out[:0], nonce, buf, nil); nonce[0]++; return len(buf) })
	r.loopback = loopbackRate()
	return r
}

const (
	rawRounds = 8
	rawRound  = 50 * time.Millisecond
)

// bestRate calls f for rawRounds rounds of about rawRound each and returns the best round's
// bytes per second, in MB/s.
func bestRate(f func() int) float64 {
	var best float64
	for range rawRounds {
		var n int
		start := time.Now()
		for time.Since(start) < rawRound {
			for range 8 {
				n += f()
			}
		}
		best = max(best, float64(n)/time.Since(start).Seconds()/1e6)
	}
	return best
}

// loopbackRate copies 1 MiB writes over a TCP connection on 127.0.0.1 and returns the best
// round's MB/s, or 0 if the machine has no loopback.
func loopbackRate() float64 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		io.Copy(io.Discard, conn)
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0
	}
	buf := make([]byte, 1<<20)
	// A write returns once the kernel holds its bytes; the reader keeps up, so the rate of
	// writes over a round is the rate of the copy, within a socket buffer.
	best := bestRate(func() int {
		n, _ := conn.Write(buf)
		return n
	})
	conn.Close()
	<-done
	return best
}

func (b *bench) printRaw() {
	fmt.Fprintf(b.w, "\nraw limits of this machine, in this run (best of %d rounds; load average %s):\n", rawRounds, loadAverage())
	fmt.Fprintf(b.w, "  SHA-256 of 32 KiB blocks          %8.1f MB/s\n", b.raw.sha256)
	fmt.Fprintf(b.w, "  AES-256-GCM seal of 32 KiB blocks %8.1f MB/s\n", b.raw.aesGCM)
	fmt.Fprintf(b.w, "  loopback TCP copy                 %8.1f MB/s\n", b.raw.loopback)
	fmt.Fprintf(b.w, "  raw limit: all three, once a byte %8.1f MB/s   (the ratios below are to this)\n", b.raw.onePass())
	fmt.Fprintf(b.w, "\nthe floor of one link, CPU milliseconds per MB of blocks (least of %d rounds):\n", floorRounds)
	fmt.Fprintf(b.w, "  TLS 1.3 seal + open, over loopback %8.2f cpu-ms/MB\n", b.floor.tls)
	fmt.Fprintf(b.w, "  SHA-256 verify                     %8.2f cpu-ms/MB\n", b.floor.sha)
	fmt.Fprintf(b.w, "  store seal (HMAC key + AES-GCM)    %8.2f cpu-ms/MB\n", b.floor.seal)
	fmt.Fprintf(b.w, "  store put: verify, seal, bbolt     %8.2f cpu-ms/MB   (batched, fsync per batch)\n", b.floor.store)
	fmt.Fprintf(b.w, "  a link's floor: TLS + verify + put %8.2f cpu-ms/MB   (the ×floor columns below are to this)\n", b.floor.total())
}

// transfer is one file inserted and fetched.
type transfer struct {
	size                    int64
	byPath                  bool          // the node read the file where it lies (else its bytes were sent)
	key                     time.Duration // to the URI (URIGenerated): the content encoded
	keyCPU                  time.Duration
	insert, fetch           time.Duration
	insertCPU, fetchCPU     time.Duration // CPU time of the whole process: all nodes and clients
	insertLinks, fetchLinks linkCount     // what the routing events counted in each phase
}

// transfer inserts size bytes, different for each n, at one client and fetches them at the
// other, checking that they come back whole. The insert is what `lethe insert FILE` does: the
// bytes are written to a file in dir first, outside the timing, and the client offers the
// node that file by its path (the TestDDA handshake, inside the timing), or sends its bytes
// if the node refuses; byPath says which it was.
func (b *bench) transfer(ctx context.Context, ic, fc *fcp.Client, dir string, size int64, n uint64) (transfer, error) {
	t := transfer{size: size}
	path := filepath.Join(dir, fmt.Sprintf("bench-%dMiB.bin", size>>20))
	want, err := writeBenchFile(path, rand.NewChaCha8([32]byte{byte(b.seed), byte(n), 'b'}), size)
	if err != nil {
		return t, fail(exitFile, "", "write the file to insert: %v", err)
	}
	defer os.Remove(path)
	f, err := os.Open(path)
	if err != nil {
		return t, fail(exitFile, "", "open the file to insert: %v", err)
	}
	defer f.Close()
	stop, err := b.startProfile("insert", size)
	if err != nil {
		return t, err
	}
	b.links.reset()
	start, cpu := time.Now(), cpuTime()
	req := fcp.PutRequest{URI: crypto.InsertURI{Type: crypto.CHK}, TargetFilename: filepath.Base(path), Data: f, DataLength: size}
	if abs, ok := nodeReads(ctx, ic, path); ok {
		req.Data, req.Filename, t.byPath = nil, abs, true
	}
	uri, err := ic.Put(ctx, req, func(p fcp.Progress) {
		if p.URI.Type != 0 && t.key == 0 {
			t.key, t.keyCPU = time.Since(start), cpuTime()-cpu
		}
	})
	t.insert, t.insertCPU, t.insertLinks = time.Since(start), cpuTime()-cpu, b.links.take()
	stop()
	if err != nil {
		return t, fail(exitFailed, "", "insert %d MiB: %v", size>>20, err)
	}
	if stop, err = b.startProfile("fetch", size); err != nil {
		return t, err
	}
	got := &countingHash{h: sha256.New()}
	start, cpu = time.Now(), cpuTime()
	_, err = fc.Get(ctx, fcp.GetRequest{URI: uri, MaxSize: size}, got, nil)
	t.fetch, t.fetchCPU, t.fetchLinks = time.Since(start), cpuTime()-cpu, b.links.take()
	stop()
	if err != nil {
		return t, fail(exitFailed, "", "fetch %d MiB: %v", size>>20, err)
	}
	if got.n != size || !bytes.Equal(got.h.Sum(nil), want) {
		return t, fail(exitFailed, "", "fetch %d MiB: %d bytes came back that differ from those inserted", size>>20, got.n)
	}
	return t, nil
}

// writeBenchFile writes size bytes of src to a new file at path, synced so that the kernel's
// writing it back does not fall into the insert's timing, and returns their SHA-256.
func writeBenchFile(path string, src io.Reader, size int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), io.LimitReader(src, size))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	return h.Sum(nil), nil
}

// countingHash hashes and counts what is written to it.
type countingHash struct {
	h hash.Hash
	n int64
}

func (c *countingHash) Write(p []byte) (int, error) { c.n += int64(len(p)); return c.h.Write(p) }

func mbps(size int64, d time.Duration) float64 { return float64(size) / d.Seconds() / 1e6 }

// cpuTime is the CPU time the process has used, user and system; 0 where it cannot tell.
func cpuTime() time.Duration {
	d, _ := cputime.Process()
	return d
}

func (b *bench) printTransferHead() {
	fmt.Fprintf(b.w, "\n%-8s %-11s %11s %6s %9s %9s %12s %15s %7s\n", "file", "phase", "speed", "ratio", "took", "MB/cpu-s", "links/block", "cpu-ms/MB/link", "×floor")
}

func (b *bench) printTransfer(t transfer) {
	key := "key"
	if !t.byPath {
		key = "key, bytes" // the node refused the file's path: not what the column's note says
	}
	b.printPhase(t.size, key, t.key, t.keyCPU, linkCount{})
	b.printPhase(t.size, "insert", t.insert, t.insertCPU, t.insertLinks)
	if n := float64(t.insertLinks.blocks); n > 0 {
		fmt.Fprintf(b.w, "%-8s %-11s %.2f copies a block kept long-term (sink and tail), %.2f in caches\n", "", "", float64(t.insertLinks.stored)/n, float64(t.insertLinks.cached)/n)
	}
	b.printPhase(t.size, "fetch, cold", t.fetch, t.fetchCPU, t.fetchLinks)
}

// printPhase prints one phase of one file: its speed and its ratio to the raw limit, its CPU,
// the links each block crossed, and the CPU per MB per link beside a link's floor.
func (b *bench) printPhase(size int64, phase string, took, cpu time.Duration, lc linkCount) {
	speed := mbps(size, took)
	links := fmt.Sprintf("%12s %15s %7s", "-", "-", "-") // no block crossed a link: the key phase
	if perLink := lc.perBlock(); perLink > 0 {
		cpuPerMBLink := cpu.Seconds() * 1e3 / (float64(size) / 1e6) / perLink
		links = fmt.Sprintf("%12.2f %15.2f %7.2f", perLink, cpuPerMBLink, cpuPerMBLink/b.floor.total())
	}
	fmt.Fprintf(b.w, "%-8s %-11s %6.1f MB/s %6.3f %9s %9.1f %s\n", fmt.Sprintf("%d MiB", size>>20), phase,
		speed, speed/b.raw.onePass(), took.Round(time.Millisecond), mbps(size, cpu), links)
}

func (b *bench) printTransferFoot() {
	fmt.Fprintln(b.w, "(key: until the node reports the URI, as for `lethe insert FILE`: the file, written to disk before the timing,")
	fmt.Fprintln(b.w, "offered by its path and read by the node where it lies, encoded into its block log; insert: until")
	fmt.Fprintln(b.w, "the network holds every block. MB/cpu-s: MB per second of CPU that the whole process spent, all nodes and clients;")
	fmt.Fprintln(b.w, "it varies less than MB/s with what else runs on the machine. links/block: the links of the")
	fmt.Fprintln(b.w, "tunnels and searches the blocks went through, over the blocks; cpu-ms/MB/link: the CPU of the phase")
	fmt.Fprintln(b.w, "per MB of the file and per link, which the ×floor column compares with a link's floor above; copies:")
	fmt.Fprintln(b.w, "the blocks the nodes kept, each a store put and most of a link's floor, over the blocks)")
}

// startProfile starts a CPU profile of one phase if -cpuprofile was given, and returns the
// function that ends it.
func (b *bench) startProfile(phase string, size int64) (func(), error) {
	if b.profile == "" {
		return func() {}, nil
	}
	name := fmt.Sprintf("%s-%s-%dMiB.pprof", b.profile, phase, size>>20)
	f, err := os.Create(name)
	if err != nil {
		return nil, fail(exitFile, "", "CPU profile: %v", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fail(exitFailed, "", "CPU profile: %v", err)
	}
	// The allocations of the phase: the heap profile counts every allocation since the process
	// started, so one is written as the phase starts and one as it ends, to be compared with
	// go tool pprof -sample_index=alloc_space -base START END.
	allocs := strings.TrimSuffix(name, ".pprof")
	writeAllocs(allocs + "-allocs-start.pprof")
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		writeAllocs(allocs + "-allocs-end.pprof")
	}, nil
}

// writeAllocs writes the heap profile to name; a profile that cannot be written is left out, as
// it changes nothing the bench measures.
func writeAllocs(name string) {
	f, err := os.Create(name)
	if err != nil {
		return
	}
	defer f.Close()
	pprof.Lookup("allocs").WriteTo(f, 0)
}

// timeToFirstByte inserts benchTTFBFiles small files, each a video the proxy serves as it
// is, and fetches each once through the proxy with a plain GET, timing the first byte of
// the body; beside it, the same GET of a plain HTTP server on loopback.
func (b *bench) timeToFirstByte(ctx context.Context, ic *fcp.Client, proxy string) error {
	const size = 1 << 20
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var ttfb, whole []time.Duration
	for i := range benchTTFBFiles {
		data := make([]byte, size)
		rand.NewChaCha8([32]byte{byte(b.seed), byte(i), 't'}).Read(data)
		uri, err := ic.Put(ctx, fcp.PutRequest{URI: crypto.InsertURI{Type: crypto.CHK}, TargetFilename: fmt.Sprintf("first-byte-%d.webm", i),
			ContentType: "video/webm", Data: bytes.NewReader(data), DataLength: size}, nil)
		if err != nil {
			return fail(exitFailed, "", "insert a file for the proxy: %v", err)
		}
		first, all, err := timedGet(ctx, client, proxy+filter.Path(uri), data)
		if err != nil {
			return fail(exitFailed, "", "through the proxy: %v", err)
		}
		ttfb, whole = append(ttfb, first), append(whole, all)
	}
	data := make([]byte, size)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(data) })}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(exitFailed, "", "listen on loopback: %v", err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	var plain []time.Duration
	for range benchTTFBFiles {
		first, _, err := timedGet(ctx, client, "http://"+ln.Addr().String()+"/", data)
		if err != nil {
			return fail(exitFailed, "", "plain HTTP on loopback: %v", err)
		}
		plain = append(plain, first)
	}
	fmt.Fprintf(b.w, "\ntime to first byte through the proxy (a GET of a 1 MiB file never fetched before, %d files):\n", benchTTFBFiles)
	fmt.Fprintf(b.w, "  proxy, cold             median %8s   (%s); whole file %s\n", median(ttfb), durations(ttfb), median(whole))
	fmt.Fprintf(b.w, "  plain HTTP on loopback  median %8s   (%s)\n", median(plain), durations(plain))
	return nil
}

// timedGet GETs url, checks that the body is want, and returns the time to its first byte
// and to its end.
func timedGet(ctx context.Context, client *http.Client, url string, want []byte) (first, all time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Sec-Fetch-Site", "none") // the user asks, not another site (spec §20.2)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	br := bufio.NewReader(resp.Body)
	if _, err := br.Peek(1); err != nil {
		return 0, 0, fmt.Errorf("GET %s: %w", url, err)
	}
	first = time.Since(start)
	body, err := io.ReadAll(br)
	if err != nil {
		return 0, 0, fmt.Errorf("GET %s: %w", url, err)
	}
	all = time.Since(start)
	if !bytes.Equal(body, want) {
		return 0, 0, fmt.Errorf("GET %s: %d bytes that differ from the %d inserted", url, len(body), len(want))
	}
	return first, all, nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return roundDuration(s[len(s)/2])
}

func durations(ds []time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, roundDuration(d).String())
	}
	return strings.Join(s, ", ")
}

func roundDuration(d time.Duration) time.Duration {
	if d < 10*time.Millisecond {
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

func (b *bench) printMemory(nodes int) {
	end := b.mem.sample()
	peak := b.mem.stop()
	peak.rss = procStatus("VmHWM") // the kernel's own peak, between samples too
	fmt.Fprintf(b.w, "\nmemory of the process that runs all %d nodes (MiB; a node: the process's figure divided by %d):\n", nodes, nodes)
	fmt.Fprintf(b.w, "  %-18s %22s %22s %22s %22s\n", "", "RSS", "anonymous", "mapped files", "Go heap")
	line := func(what string, m memSample) {
		fmt.Fprintf(b.w, "  %-18s %22s %22s %22s %22s\n", what, perNode(m.rss, nodes), perNode(m.anon, nodes), perNode(m.file, nodes), perNode(m.heap, nodes))
	}
	line("idle, after start", b.idle)
	line("peak", peak)
	line("at the end", end)
	fmt.Fprintln(b.w, "(anonymous: the heap, stacks and buffers; mapped files: the pages of the nodes' stores that")
	fmt.Fprintln(b.w, "bbolt maps into memory, which the kernel takes back when it needs them)")
}

func perNode(bytes uint64, nodes int) string {
	if bytes == 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.1f (%.1f a node)", float64(bytes)/(1<<20), float64(bytes)/(1<<20)/float64(nodes))
}

// memSample is the process's memory at one moment; a field is 0 where it cannot be told.
type memSample struct {
	rss, anon, file uint64 // resident set: all of it, anonymous pages, pages of mapped files
	heap            uint64 // bytes of Go heap objects, live or not yet collected
}

// memSampler follows the process's memory while the benchmark runs, for its peaks.
type memSampler struct {
	stopOnce sync.Once
	quit     chan struct{}
	done     chan struct{}

	mu   sync.Mutex
	peak memSample // the largest of each figure seen; guarded by mu
}

const heapMetric = "/memory/classes/heap/objects:bytes"

func (m *memSampler) start() {
	m.quit, m.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(m.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			m.sample()
			select {
			case <-m.quit:
				return
			case <-t.C:
			}
		}
	}()
}

// stop ends the sampling and returns the peaks seen.
func (m *memSampler) stop() memSample {
	m.stopOnce.Do(func() {
		if m.quit != nil {
			close(m.quit)
			<-m.done
		}
	})
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peak
}

func (m *memSampler) sample() memSample {
	s := []metrics.Sample{{Name: heapMetric}}
	metrics.Read(s)
	var ms memSample
	if s[0].Value.Kind() == metrics.KindUint64 {
		ms.heap = s[0].Value.Uint64()
	}
	ms.rss, ms.anon, ms.file = procStatus("VmRSS"), procStatus("RssAnon"), procStatus("RssFile")
	m.mu.Lock()
	m.peak = memSample{rss: max(m.peak.rss, ms.rss), anon: max(m.peak.anon, ms.anon), file: max(m.peak.file, ms.file), heap: max(m.peak.heap, ms.heap)}
	m.mu.Unlock()
	return ms
}

// procStatus reads a field in kB of /proc/self/status, in bytes; 0 if there is none.
func procStatus(field string) uint64 {
	if runtime.GOOS != "linux" {
		return 0
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// loadAverage is the machine's load over the last minute, from /proc/loadavg, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "unknown"
}
