// Package sim runs many routers of package routing, the same code a node runs, on the
// in-memory transport in one process, to measure routing at scale (spec §18.10): success
// rate, hops, link lengths, the effect of caching and of killed nodes, and how much a
// neighbour can tell about who originated a request.
package sim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"lethe/crypto"
	"lethe/routing"
	"lethe/routing/internal/tuning"
	"lethe/transport"
	"lethe/wire"
)

// Config says what to simulate. Zero values take the defaults in brackets.
type Config struct {
	Nodes   int  // network size [1000]
	Degree  int  // peers each node aims for (routing.Config.MaxPeers) [20]
	Darknet bool // a fixed friend graph with location swapping, instead of opennet
	Seed    uint64

	// Opennet topology formation: nodes join one by one through announcements, then make
	// FormationRequests requests each for FormationKeys keys, shaping the network by path
	// folding. [10 per node, Nodes/5 keys]
	FormationRequests int
	FormationKeys     int
	// SwapRounds is how many swaps each darknet node starts. [200]
	SwapRounds int

	ProbeKeys       int       // keys inserted for the measurement [Nodes/10, at least 100]
	ProbeRequests   int       // requests for them, from random nodes [2000]
	Kill            []float64 // fractions of all nodes to have killed, in turn, measuring after each
	PopularKeys     int       // keys each requested PopularRequests times, caching on [10; negative: none]
	PopularRequests int       // [50]

	Parallel    int // requests in flight at once [32]
	StoreBlocks int // each node's long-term store, in blocks [50]
	CacheBlocks int // each node's cache, in blocks [50]

	// The volume test (volume.go): Downloads downloads, each of a file of FileBlocks blocks
	// by a random node in a session of its own; Files different files are downloaded side
	// by side. Each fraction in Colluders is analysed as colluding nodes, and one and two of
	// each downloader's neighbours too, CollusionDraws random sets per download
	// (tunnelanon.go). [no downloads; 64 blocks; 8 files; 1%, 5% and 10%; 20 draws]
	Downloads      int
	FileBlocks     int
	Files          int
	Colluders      []float64
	CollusionDraws int

	// The bandwidth test (bandwidth.go): a download of BandwidthBlocks blocks with every
	// node's uplink capped at UplinkCap bytes a second. [none]
	BandwidthBlocks int
	UplinkCap       float64
	// MaxTunnels is how many tunnels a session may use (tunnel.DefaultMaxTunnels); 1 shows
	// what a single path gives. [the default]
	MaxTunnels int

	// Log receives progress lines. [discarded]
	Log io.Writer
}

func (c *Config) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Nodes, 1000)
	def(&c.Degree, 20)
	def(&c.FormationRequests, 10)
	def(&c.FormationKeys, max(c.Nodes/5, 50))
	def(&c.SwapRounds, 200)
	def(&c.ProbeKeys, max(c.Nodes/10, 100))
	def(&c.ProbeRequests, 2000)
	if c.PopularKeys == 0 {
		c.PopularKeys = 10
	}
	def(&c.PopularRequests, 50)
	def(&c.Parallel, 32)
	def(&c.StoreBlocks, 50)
	def(&c.CacheBlocks, 50)
	def(&c.FileBlocks, 64)
	def(&c.Files, min(8, max(c.Downloads, 1)))
	def(&c.CollusionDraws, 20)
	if c.Colluders == nil {
		c.Colluders = []float64{0.01, 0.05, 0.1}
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
}

// requestTimeout is every simulated router's RequestTimeout: long, because a busy
// simulation is slow, not lossy.
const requestTimeout = 5 * time.Minute

// timeoutStep is what each hop takes off a request's timeout before passing it on (routing's
// hopMargin, spec §18.5): the unit in which the timeout a request carries counts the hops it
// has made since its originator.
const timeoutStep = 200 * time.Millisecond

// node is one simulated node.
type node struct {
	idx   int
	ref   *wire.NodeRef
	r     *routing.Router
	t     *transport.MemNode
	up    *uplink // t behind the node's uplink cap: the router sends through it
	store *simStore
	dead  bool
}

// Sim is a running simulation.
type Sim struct {
	cfg   Config
	rng   *rand.Rand
	net   *transport.MemNetwork
	nodes []*node
	seeds []*wire.NodeRef // opennet: the first nodes, which newcomers announce through
	tr    *tracer

	blocksMu sync.RWMutex
	blocks   map[crypto.RoutingKey][]byte // every block the simulation made, shared by all stores
	probes   map[crypto.RoutingKey]bool   // keys nobody may cache (the measurement's)

	start time.Time
	skew  atomic.Int64 // the simulation's clock runs ahead of the real one by this many ns
}

// now is the routers' clock: real time plus the skew the simulation adds between phases, so
// that time-based rules (a new peer's grace period, backoff) pass at the simulation's pace.
func (s *Sim) now() time.Time { return time.Now().Add(time.Duration(s.skew.Load())) }

// advance moves the simulation's clock forward.
func (s *Sim) advance(d time.Duration) { s.skew.Add(int64(d)) }

// Run builds the network, forms its topology, measures it and returns the report.
func Run(cfg Config) (*Report, error) {
	cfg.defaults()
	s := newSim(cfg)
	defer s.close()
	rep := &Report{Config: cfg}
	if err := s.build(); err != nil {
		return nil, err
	}
	if cfg.Darknet {
		if err := s.formDarknet(); err != nil {
			return nil, err
		}
	} else if err := s.formOpennet(); err != nil {
		return nil, err
	}
	rep.FormationTime = time.Since(s.start)
	rep.MeanDegree, rep.LinkLengths = s.topology()
	s.logf("topology formed in %v: mean degree %.1f", rep.FormationTime.Round(time.Second), rep.MeanDegree)

	probes, err := s.insertKeys("probe", cfg.ProbeKeys, true)
	if err != nil {
		return nil, err
	}
	s.tr.setMeasuring(true)
	rep.Probe = s.measure(probes, cfg.ProbeRequests)
	s.tr.setMeasuring(false)
	rep.Anonymity = s.anonymity()
	rep.TimeoutAnonymity = s.timeoutAnonymity()
	s.logf("probe: %v", rep.Probe)

	if err := s.volume(rep); err != nil {
		return nil, err
	}
	if err := s.popular(rep); err != nil {
		return nil, err
	}
	if err := s.bandwidth(rep); err != nil {
		return nil, err
	}
	for _, f := range cfg.Kill {
		s.kill(f)
		m := s.measure(probes, cfg.ProbeRequests)
		rep.Killed = append(rep.Killed, KillMeasurement{Fraction: f, Measurement: m, KeysLost: s.lost(probes)})
		s.logf("after killing %.0f%%: %v", 100*f, m)
	}
	rep.Elapsed = time.Since(s.start)
	rep.PeakRSS = peakRSS()
	return rep, nil
}

// newSim makes a simulation of cfg, with defaults applied, before any node is built.
func newSim(cfg Config) *Sim {
	return &Sim{
		cfg:    cfg,
		rng:    rand.New(rand.NewPCG(cfg.Seed, 0x1e7e)),
		net:    transport.NewMemNetwork(),
		tr:     newTracer(),
		blocks: map[crypto.RoutingKey][]byte{},
		probes: map[crypto.RoutingKey]bool{},
		start:  time.Now(),
	}
}

func (s *Sim) logf(format string, args ...any) {
	fmt.Fprintf(s.cfg.Log, "[%6.1fs] %s\n", time.Since(s.start).Seconds(), fmt.Sprintf(format, args...))
}

// build makes the nodes: identities, routers, stores and transport endpoints, not linked.
func (s *Sim) build() error {
	nseeds := 0
	if !s.cfg.Darknet {
		nseeds = min(5, s.cfg.Nodes)
	}
	refs := make([]*wire.NodeRef, s.cfg.Nodes)
	idents := make([]*crypto.NodeIdentity, s.cfg.Nodes)
	for i := range s.cfg.Nodes {
		var seed [32]byte
		binary.BigEndian.PutUint64(seed[:], s.cfg.Seed)
		binary.BigEndian.PutUint64(seed[8:], uint64(i))
		idents[i] = crypto.NewNodeIdentity(sha256.Sum256(seed[:]))
		var err error
		if refs[i], err = wire.NewNodeRef(idents[i], wire.NodeRefInfo{}); err != nil {
			return err
		}
	}
	s.seeds = refs[:nseeds]
	for i := range s.cfg.Nodes {
		var seed [32]byte
		binary.BigEndian.PutUint64(seed[:], s.cfg.Seed)
		binary.BigEndian.PutUint64(seed[8:], uint64(i))
		ref := refs[i]
		n := &node{idx: i, ref: ref}
		loc := crypto.Location(s.rng.Float64())
		n.store = &simStore{sim: s, MemStore: routing.NewMemStore(loc, s.cfg.StoreBlocks, s.cfg.CacheBlocks)}
		routerSeed := sha256.Sum256(append(seed[:], "router"...))
		idx := i
		n.r = routing.New(routing.Config{
			Store:        n.store,
			Location:     loc,
			Opennet:      !s.cfg.Darknet,
			MaxPeers:     s.cfg.Degree,
			Ref:          func() *wire.NodeRef { return n.ref },
			Connect:      func(ctx context.Context, ref *wire.NodeRef) error { return n.t.Connect(ctx, ref) },
			Seeds:        s.seeds,
			SeedNode:     i < nseeds,
			PeerRate:     1e9,
			PeerBurst:    1e9,
			SwapInterval: -1,
			Seed:         &routerSeed,
			Now:          s.now,
			Trace:        func(e routing.Event) { s.tr.event(idx, e) },
			Identity:     idents[i],
			OwnTunnels:   true, // the simulator measures the tunnels (spec §18.11)
			// A busy simulation is slow, not lossy: long timeouts, no limit on the
			// messages waiting for a peer's Accepted, none on the work in progress.
			Tuning: &tuning.Options{
				RequestTimeout:      requestTimeout,
				AcceptTimeout:       time.Minute,
				MaxActive:           1 << 20,
				MaxAwaiting:         1 << 20,
				LocationUpdateDelay: 50 * time.Millisecond,
				VerifyBlock:         s.verify,
				MaxTunnels:          s.cfg.MaxTunnels,
			},
		})
		var accept func(transport.Peer) error
		if !s.cfg.Darknet {
			accept = func(p transport.Peer) error {
				if n.r.WantsPeer(p.Ref.ID()) {
					return nil
				}
				return errors.New("full")
			}
		}
		var err error
		n.t, err = s.net.Join(transport.MemConfig{Ref: ref, Handler: n.r, AcceptPeer: accept})
		if err != nil {
			return err
		}
		s.tr.index[ref.ID()] = i
		n.up = newUplink(n.t, 0)
		n.r.Start(n.up)
		s.nodes = append(s.nodes, n)
	}
	return nil
}

func (s *Sim) close() {
	for _, n := range s.nodes {
		if !n.dead {
			n.r.Close()
			n.up.Close()
		}
	}
}

// verify stands in for block verification: the block must be the very bytes the simulation
// made for the key. It is cheaper than hashing 32 KiB at every hop of millions, and as strict.
func (s *Sim) verify(kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	s.blocksMu.RLock()
	want, ok := s.blocks[rk]
	s.blocksMu.RUnlock()
	if !ok || !bytes.Equal(want, block) {
		return crypto.ErrVerify
	}
	return nil
}

// simStore is a node's MemStore that keeps the simulation's one copy of each block, and
// refuses to cache the measurement's keys.
type simStore struct {
	sim *Sim
	*routing.MemStore
}

func (st *simStore) canonical(rk crypto.RoutingKey) []byte {
	st.sim.blocksMu.RLock()
	defer st.sim.blocksMu.RUnlock()
	return st.sim.blocks[rk]
}

func (st *simStore) Store(kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	return st.MemStore.Store(kt, rk, st.canonical(rk))
}

func (st *simStore) StoreTail(kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	return st.Store(kt, rk, block)
}

func (st *simStore) Cache(kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	st.sim.blocksMu.RLock()
	probe := st.sim.probes[rk]
	st.sim.blocksMu.RUnlock()
	if probe {
		return nil
	}
	return st.MemStore.Cache(kt, rk, st.canonical(rk))
}

// alive lists the nodes not killed.
func (s *Sim) alive() []*node {
	var out []*node
	for _, n := range s.nodes {
		if !n.dead {
			out = append(out, n)
		}
	}
	return out
}

// parallel runs f(i) for i in [0,n) with at most cfg.Parallel at once.
func (s *Sim) parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, s.cfg.Parallel)
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f(i)
		}()
	}
	wg.Wait()
}

// newBlock makes a fresh CHK block for the simulation.
func (s *Sim) newBlock(label string, i int) (crypto.RoutingKey, []byte, error) {
	payload := []byte(label + " " + strconv.Itoa(i) + " " + strconv.FormatUint(s.cfg.Seed, 10))
	block, key, err := crypto.EncodeCHKConvergent(payload)
	if err != nil {
		return crypto.RoutingKey{}, nil, err
	}
	s.blocksMu.Lock()
	s.blocks[key.Routing] = block
	s.blocksMu.Unlock()
	return key.Routing, block, nil
}

// insertKeys inserts n new keys from random live nodes; probe keys are never cached.
func (s *Sim) insertKeys(label string, n int, probe bool) ([]crypto.RoutingKey, error) {
	keys := make([]crypto.RoutingKey, n)
	blocks := make([][]byte, n)
	for i := range n {
		var err error
		if keys[i], blocks[i], err = s.newBlock(label, i); err != nil {
			return nil, err
		}
		if probe {
			s.blocksMu.Lock()
			s.probes[keys[i]] = true
			s.blocksMu.Unlock()
		}
	}
	alive := s.alive()
	from := make([]*node, n)
	for i := range from {
		from[i] = alive[s.rng.IntN(len(alive))]
	}
	var failed atomic.Int64
	s.parallel(n, func(i int) {
		if err := from[i].r.PutBlock(context.Background(), crypto.CHK, keys[i], blocks[i]); err != nil {
			failed.Add(1)
		}
	})
	s.logf("inserted %d %s keys (%d failed)", n, label, failed.Load())
	return keys, nil
}

// measure requests random keys from random live nodes and reports success and hops.
func (s *Sim) measure(keys []crypto.RoutingKey, n int) Measurement {
	s.tr.reset()
	alive := s.alive()
	type job struct {
		from *node
		key  crypto.RoutingKey
	}
	jobs := make([]job, n)
	seen := map[startKey]bool{}
	for i := range jobs {
		for {
			j := job{alive[s.rng.IntN(len(alive))], keys[s.rng.IntN(len(keys))]}
			if k := (startKey{j.from.idx, j.key}); !seen[k] {
				seen[k] = true
				jobs[i] = j
				break
			}
		}
	}
	var mu sync.Mutex
	var m Measurement
	var stem, after, total []float64
	var elapsed time.Duration
	s.parallel(n, func(i int) {
		j := jobs[i]
		t0 := time.Now()
		_, err := j.from.r.GetBlock(context.Background(), crypto.CHK, j.key)
		dt := time.Since(t0)
		st, af, traced := s.tr.path(j.from.idx, j.key)
		mu.Lock()
		defer mu.Unlock()
		m.Requests++
		elapsed += dt
		if err != nil {
			if m.Failures == nil {
				m.Failures = map[string]int{}
			}
			m.Failures[err.Error()+" ("+s.whereIs(j.key)+")"]++
			return
		}
		m.Successes++
		if traced {
			stem = append(stem, float64(st))
			after = append(after, float64(af))
			total = append(total, float64(st+af))
		}
	})
	m.SuccessRate = float64(m.Successes) / float64(m.Requests)
	m.Hops, m.TunnelHops, m.TotalHops = percentiles(after), percentiles(stem), percentiles(total)
	m.TimePerRequest = elapsed / time.Duration(max(m.Requests, 1))
	return m
}

// popular measures how caching brings a popular key closer: each of PopularKeys keys is
// requested PopularRequests times in turn, from random nodes.
func (s *Sim) popular(rep *Report) error {
	if s.cfg.PopularKeys < 0 {
		return nil
	}
	keys, err := s.insertKeys("popular", s.cfg.PopularKeys, false)
	if err != nil {
		return err
	}
	perRequest := make([][]float64, s.cfg.PopularRequests)
	alive := s.alive()
	for _, key := range keys {
		s.tr.reset()
		for i := range s.cfg.PopularRequests {
			from := alive[s.rng.IntN(len(alive))]
			if _, err := from.r.GetBlock(context.Background(), crypto.CHK, key); err != nil {
				continue
			}
			_, af, traced := s.tr.path(from.idx, key)
			if !traced {
				af = 0 // it was in the requester's own store
			}
			perRequest[i] = append(perRequest[i], float64(af))
		}
	}
	rep.PopularFirst = percentiles(perRequest[0]).Median
	rep.PopularLast = percentiles(perRequest[len(perRequest)-1]).Median
	s.logf("popular keys: median hops of the search %.1f at the first request, %.1f at request %d", rep.PopularFirst, rep.PopularLast, s.cfg.PopularRequests)
	return nil
}

// kill stops random live nodes, without repair, until fraction f of all nodes are dead.
func (s *Sim) kill(f float64) {
	want := int(math.Round(f * float64(len(s.nodes))))
	dead := 0
	for _, n := range s.nodes {
		if n.dead {
			dead++
		}
	}
	alive := s.alive()
	s.rng.Shuffle(len(alive), func(i, j int) { alive[i], alive[j] = alive[j], alive[i] })
	for _, n := range alive[:max(0, want-dead)] {
		n.dead = true
		n.r.Close()
		n.up.Close()
	}
	// Let the links' PeerDown events run.
	time.Sleep(200 * time.Millisecond)
}

// whereIs explains a failed request for key: whether the live node nearest the key holds it,
// some other node does, or none.
func (s *Sim) whereIs(key crypto.RoutingKey) string {
	var nearest *node
	held := 0
	for _, n := range s.alive() {
		if nearest == nil || n.r.Location().Distance(key.Location()) < nearest.r.Location().Distance(key.Location()) {
			nearest = n
		}
		if st, ca := n.store.Has(crypto.CHK, key); st || ca {
			held++
		}
	}
	if st, ca := nearest.store.Has(crypto.CHK, key); st || ca {
		return "held by the nearest node"
	}
	if held > 0 {
		return "held elsewhere"
	}
	return "held nowhere"
}

// lost counts the keys no live node holds any more.
func (s *Sim) lost(keys []crypto.RoutingKey) int {
	lost := 0
	for _, k := range keys {
		held := false
		for _, n := range s.alive() {
			if st, ca := n.store.Has(crypto.CHK, k); st || ca {
				held = true
				break
			}
		}
		if !held {
			lost++
		}
	}
	return lost
}

// topology reports the mean degree and the link-length distribution by octave.
func (s *Sim) topology() (float64, []LengthBucket) {
	locs := map[crypto.NodeID]crypto.Location{}
	for _, n := range s.alive() {
		locs[n.ref.ID()] = n.r.Location()
	}
	var links, total int
	counts := make([]int, 16)
	for _, n := range s.alive() {
		me := n.r.Location()
		for _, p := range n.r.Peers() {
			total++
			l, ok := locs[p.ID]
			if !ok {
				continue
			}
			links++
			d := me.Distance(l)
			b := 0
			for b < len(counts)-1 && d < 0.5/math.Pow(2, float64(b+1)) {
				b++
			}
			counts[b]++
		}
	}
	buckets := make([]LengthBucket, len(counts))
	// Under the ideal 1/d distribution every octave [d, 2d) holds the same share, down to
	// the distance between neighbouring nodes.
	ideal := 0
	for b := range counts {
		if 0.5/math.Pow(2, float64(b+1)) >= 1/float64(len(s.nodes)) {
			ideal++
		}
	}
	for b := range counts {
		hi := 0.5 / math.Pow(2, float64(b))
		lo := hi / 2
		if b == len(counts)-1 {
			lo = 0
		}
		buckets[b] = LengthBucket{Lo: lo, Hi: hi, Fraction: float64(counts[b]) / float64(max(links, 1))}
		if b < ideal {
			buckets[b].Ideal = 1 / float64(ideal)
		}
	}
	return float64(total) / float64(max(len(s.alive()), 1)), buckets
}

// components reports the number of connected components among live nodes and the share of
// nodes in the largest.
func (s *Sim) components() (int, float64) {
	alive := s.alive()
	idx := map[crypto.NodeID]int{}
	for i, n := range alive {
		idx[n.ref.ID()] = i
	}
	seen := make([]bool, len(alive))
	comps, largest := 0, 0
	for i := range alive {
		if seen[i] {
			continue
		}
		comps++
		size := 0
		stack := []int{i}
		seen[i] = true
		for len(stack) > 0 {
			j := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			size++
			for _, p := range alive[j].r.Peers() {
				if k, ok := idx[p.ID]; ok && !seen[k] {
					seen[k] = true
					stack = append(stack, k)
				}
			}
		}
		largest = max(largest, size)
	}
	return comps, float64(largest) / float64(max(len(alive), 1))
}

// anonymity reports, per HTL, the share of request arrivals whose sender originated them.
func (s *Sim) anonymity() []HTLAnonymity {
	s.tr.mu.Lock()
	defer s.tr.mu.Unlock()
	var out []HTLAnonymity
	bound := 1 / (1 + float64(s.cfg.Degree)/2)
	for h := len(s.tr.byHTL) - 1; h >= 0; h-- {
		c := s.tr.byHTL[h]
		if c.arrivals == 0 {
			continue
		}
		out = append(out, HTLAnonymity{HTL: h, Arrivals: c.arrivals, FromOriginator: c.fromOriginator,
			P: float64(c.fromOriginator) / float64(c.arrivals), Bound: bound})
	}
	return out
}

// timeoutAnonymity reports, by the hops a request's timeout implies it has made, the share
// of request arrivals whose sender originated them.
func (s *Sim) timeoutAnonymity() []TimeoutAnonymity {
	s.tr.mu.Lock()
	defer s.tr.mu.Unlock()
	var out []TimeoutAnonymity
	for k, c := range s.tr.byTimeout {
		if c.arrivals == 0 {
			continue
		}
		out = append(out, TimeoutAnonymity{Hops: k, Arrivals: c.arrivals, FromOriginator: c.fromOriginator,
			P: float64(c.fromOriginator) / float64(c.arrivals)})
	}
	return out
}

// peakRSS is the process's peak resident memory, from /proc (0 where unavailable).
func peakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func percentiles(xs []float64) Percentiles {
	if len(xs) == 0 {
		return Percentiles{}
	}
	xs = slices.Clone(xs)
	slices.Sort(xs)
	at := func(q float64) float64 { return xs[min(len(xs)-1, int(q*float64(len(xs))))] }
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return Percentiles{Mean: sum / float64(len(xs)), Median: at(0.5), P90: at(0.9), P99: at(0.99), Max: xs[len(xs)-1]}
}
