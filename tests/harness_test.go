package tests

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/datastore"
	"lethe/node"
	"lethe/routing"
	"lethe/transport"
	"lethe/wire"
)

// The swarm is the network harness of the whole-network tests: N nodes on loopback, each
// with a role, linked as darknet friends in a small world (a ring plus long links drawn
// with probability ∝ 1/distance, as node.StartTestnet does). Honest nodes are real
// node.Nodes. A hostile node is the product's own parts, a routing.Router on a bbolt
// datastore and a real TLS transport, with test code between the router and its links that
// changes what it does according to its role. Nothing hostile lives in the product.
//
// Nodes can be killed (closed abruptly, as a crash would leave their peers) and restarted
// on the same data directory and port, and links can be cut the way a user cuts them: by
// removing the friend at both ends.

// role is how a node of the swarm behaves.
type role uint8

const (
	honest     role = iota
	corrupting      // flips a byte of every block it sends, so that it fails verification
	dropping        // silently discards every request and insert it receives
	flooding        // sends its peers requests for random keys as fast as its links take them
	slow            // delays every message it sends or receives by swarmConfig.Delay
)

func (r role) String() string {
	return [...]string{"honest", "corrupting", "dropping", "flooding", "slow"}[r]
}

// swarmConfig describes a swarm.
type swarmConfig struct {
	// Roles gives each node's role; its length is the number of nodes.
	Roles []role
	// LongLinks is how many long links each node makes beyond its ring neighbours (default 1).
	LongLinks int
	// MaxPeers is every node's MaxPeers (default 6).
	MaxPeers int
	// Delay is how long a slow node holds each message (default 50 ms).
	Delay time.Duration
	// Seed picks the long links.
	Seed uint64
	// Edit, if set, adjusts each honest node's Config.
	Edit func(i int, c *node.Config)
}

// swarm is a running network of the harness. Its methods are called from the test's
// goroutine, except where they say otherwise.
type swarm struct {
	tb    testing.TB
	cfg   swarmConfig
	dir   string
	nodes []*swarmNode

	mu    sync.Mutex
	links [][2]int // the friendships, each once, lower index first; guarded by mu
	// unleashed is set by unleash: hostile nodes act on their roles from then on, also
	// after a restart.
	unleashed bool
}

// swarmNode is one node of a swarm: honest (node set) or hostile (h set) while it runs.
type swarmNode struct {
	i    int
	role role
	dir  string
	loc  crypto.Location
	addr string // the link address, kept across restarts
	id   crypto.NodeID
	ref  *wire.NodeRef

	mu   sync.Mutex
	node *node.Node    // honest, while running; guarded by mu
	done chan struct{} // closed when the honest node's Run returns; guarded by mu
	h    *hostileNode  // hostile, while running; guarded by mu
}

// startSwarm starts a swarm, waits until every friendship is linked, and stops it when the
// test ends, checking that no goroutine is left behind.
func startSwarm(tb testing.TB, cfg swarmConfig) *swarm {
	tb.Helper()
	if cfg.LongLinks == 0 {
		cfg.LongLinks = 1
	}
	if cfg.MaxPeers == 0 {
		cfg.MaxPeers = 6
	}
	if cfg.Delay == 0 {
		cfg.Delay = 50 * time.Millisecond
	}
	before := runtime.NumGoroutine()
	s := &swarm{tb: tb, cfg: cfg, dir: tb.TempDir()}
	tb.Cleanup(func() {
		s.close()
		noGoroutinesLeft(tb, before, 10*time.Second)
	})
	n := len(cfg.Roles)
	s.links = node.SmallWorld(n, cfg.LongLinks, cfg.Seed)
	for i, r := range cfg.Roles {
		sn := &swarmNode{
			i:    i,
			role: r,
			dir:  filepath.Join(s.dir, fmt.Sprintf("node-%02d", i)),
			loc:  crypto.Location((float64(i) + 0.5) / float64(n)),
			addr: "127.0.0.1:0",
		}
		s.nodes = append(s.nodes, sn)
		if err := s.open(sn); err != nil {
			tb.Fatalf("node %d (%v): %v", i, r, err)
		}
	}
	for i, sn := range s.nodes {
		var refs []*wire.NodeRef
		for _, j := range s.friendsOf(i) {
			refs = append(refs, s.nodes[j].ref)
		}
		if _, err := node.AddFriend(sn.dir, sn.id, refs...); err != nil {
			tb.Fatal(err)
		}
	}
	for _, sn := range s.nodes {
		s.run(sn)
	}
	s.waitLinked(60 * time.Second)
	return s
}

// unleash turns the hostile nodes hostile: until then they behave as honest nodes do, so
// that a test can set up content first, and a flooding node starts its flood.
func (s *swarm) unleash() {
	s.unleashed = true
	for _, sn := range s.nodes {
		sn.mu.Lock()
		sn.h.unleash()
		sn.mu.Unlock()
	}
}

// open makes node sn from its data directory (creating it the first time) and binds its
// link listener on sn.addr; run starts it.
func (s *swarm) open(sn *swarmNode) error {
	if sn.role != honest {
		h, err := newHostile(sn, s.cfg)
		if err != nil {
			return err
		}
		sn.mu.Lock()
		sn.h = h
		sn.mu.Unlock()
		sn.id, sn.ref, sn.addr = h.id.ID(), h.tr.Ref(), h.tr.Addr()
		return nil
	}
	c := node.Config{
		Dir:          sn.dir,
		ListenAddr:   sn.addr,
		Location:     sn.loc,
		MaxPeers:     s.cfg.MaxPeers,
		FCPAddr:      "127.0.0.1:0",
		ProxyAddr:    node.Off,
		Testnet:      true,
		DrainTimeout: time.Second,
		Logger:       slog.New(slog.DiscardHandler),
	}
	if s.cfg.Edit != nil {
		s.cfg.Edit(sn.i, &c)
	}
	n, err := node.New(c)
	if err != nil {
		return err
	}
	sn.mu.Lock()
	sn.node, sn.done = n, nil
	sn.mu.Unlock()
	sn.id, sn.ref, sn.addr = n.ID(), n.Ref(), n.LinkAddr()
	return nil
}

// run starts an opened node.
func (s *swarm) run(sn *swarmNode) {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if sn.h != nil {
		sn.h.run(s.friendRefs(sn.i))
		if s.unleashed {
			sn.h.unleash()
		}
		return
	}
	done := make(chan struct{})
	sn.done = done
	n := sn.node
	go func() {
		defer close(done)
		if err := n.Run(context.Background()); err != nil {
			s.tb.Logf("node %d stopped with an error: %v", sn.i, err)
		}
	}()
}

// kill stops node i abruptly, the way a crash looks to its peers: its links drop, requests
// it was carrying are lost. It is safe to call from any goroutine.
func (s *swarm) kill(i int) {
	sn := s.nodes[i]
	sn.mu.Lock()
	n, done, h := sn.node, sn.done, sn.h
	sn.node, sn.done, sn.h = nil, nil, nil
	sn.mu.Unlock()
	switch {
	case n != nil:
		n.Close()
		if done != nil {
			<-done
		}
	case h != nil:
		h.close()
	}
}

// restart starts a killed node again on its data directory and its old port.
func (s *swarm) restart(i int) {
	s.tb.Helper()
	sn := s.nodes[i]
	if s.alive(i) {
		s.tb.Fatalf("restart node %d: it is running", i)
	}
	if err := s.open(sn); err != nil {
		s.tb.Fatalf("restart node %d: %v", i, err)
	}
	s.run(sn)
}

// alive reports whether node i runs. Safe from any goroutine.
func (s *swarm) alive(i int) bool {
	sn := s.nodes[i]
	sn.mu.Lock()
	defer sn.mu.Unlock()
	return sn.node != nil || sn.h != nil
}

// hostile returns hostile node i, or nil if it is not running. Safe from any goroutine.
func (s *swarm) hostile(i int) *hostileNode {
	sn := s.nodes[i]
	sn.mu.Lock()
	defer sn.mu.Unlock()
	return sn.h
}

// node returns honest node i, failing the test if it is not running.
func (s *swarm) node(i int) *node.Node {
	s.tb.Helper()
	sn := s.nodes[i]
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if sn.node == nil {
		s.tb.Fatalf("node %d (%v) is not a running honest node", i, sn.role)
	}
	return sn.node
}

// router is node i's router, or nil if it is not running. Safe from any goroutine.
func (s *swarm) router(i int) *routing.Router {
	sn := s.nodes[i]
	sn.mu.Lock()
	defer sn.mu.Unlock()
	switch {
	case sn.node != nil:
		return sn.node.Router()
	case sn.h != nil:
		return sn.h.router
	}
	return nil
}

// honest lists the honest nodes.
func (s *swarm) honest() []int {
	var out []int
	for i, sn := range s.nodes {
		if sn.role == honest {
			out = append(out, i)
		}
	}
	return out
}

// withRole lists the nodes of role r.
func (s *swarm) withRole(r role) []int {
	var out []int
	for i, sn := range s.nodes {
		if sn.role == r {
			out = append(out, i)
		}
	}
	return out
}

// Links lists the friendships, each once, lower index first.
func (s *swarm) Links() [][2]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.links)
}

// friendsOf lists node i's friends, whether they run or not.
func (s *swarm) friendsOf(i int) []int {
	var out []int
	for _, l := range s.Links() {
		switch i {
		case l[0]:
			out = append(out, l[1])
		case l[1]:
			out = append(out, l[0])
		}
	}
	return out
}

func (s *swarm) friendRefs(i int) []*wire.NodeRef {
	var refs []*wire.NodeRef
	for _, j := range s.friendsOf(i) {
		refs = append(refs, s.nodes[j].ref)
	}
	return refs
}

// peersOf returns the nodes that node i's router has as connected peers with a known
// location (nil if i is not running). Safe from any goroutine.
// peerState says how node i sees node j, for a link that should be up and is not: a peer
// whose location it does not know yet, or no peer at all, and whether it refuses j.
func (s *swarm) peerState(i, j int) string {
	r := s.router(i)
	if r == nil {
		return "not running"
	}
	for _, p := range r.Peers() {
		if p.ID == s.nodes[j].id {
			return fmt.Sprintf("a peer at location %v", p.Location)
		}
	}
	if r.Refuses(s.nodes[j].id) {
		return "not a peer, refused"
	}
	return "not a peer"
}

func (s *swarm) peersOf(i int) []int {
	r := s.router(i)
	if r == nil {
		return nil
	}
	index := map[crypto.NodeID]int{}
	for j, sn := range s.nodes {
		index[sn.id] = j
	}
	var out []int
	for _, p := range r.Peers() {
		if j, ok := index[p.ID]; ok && p.Location >= 0 {
			out = append(out, j)
		}
	}
	slices.Sort(out)
	return out
}

// cut removes the friendship of nodes a and b at both ends, as their users would (each
// node notices within a few seconds and closes the link); waitCut waits for it. It is safe
// to call from any goroutine.
func (s *swarm) cut(a, b int) error {
	for _, e := range [][2]int{{a, b}, {b, a}} {
		sn, other := s.nodes[e[0]], s.nodes[e[1]]
		if _, err := node.RemoveFriend(sn.dir, other.id.String()); err != nil {
			return fmt.Errorf("cut %d–%d: %w", a, b, err)
		}
		sn.mu.Lock()
		if sn.h != nil {
			sn.h.tr.Disconnect(other.id)
		}
		sn.mu.Unlock()
	}
	s.mu.Lock()
	s.links = slices.DeleteFunc(s.links, func(l [2]int) bool { return l == [2]int{min(a, b), max(a, b)} })
	s.mu.Unlock()
	return nil
}

// waitCut waits until neither a nor b has the other as a peer.
func (s *swarm) waitCut(a, b int) {
	s.tb.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for slices.Contains(s.peersOf(a), b) || slices.Contains(s.peersOf(b), a) {
		if time.Now().After(deadline) {
			s.tb.Fatalf("nodes %d and %d are still peers 15 s after their friendship was removed", a, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitLinked waits until every running node has every running friend as a peer.
func (s *swarm) waitLinked(limit time.Duration) {
	s.tb.Helper()
	deadline := time.Now().Add(limit)
	for {
		var missing []string
		for i := range s.nodes {
			if !s.alive(i) {
				continue
			}
			have := s.peersOf(i)
			for _, j := range s.friendsOf(i) {
				if s.alive(j) && !slices.Contains(have, j) {
					missing = append(missing, fmt.Sprintf("node %d (%v) lacks %d (%v): %s", i, s.nodes[i].role, j, s.nodes[j].role, s.peerState(i, j)))
				}
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("%d friendships not linked after %v:\n%s", len(missing), limit, strings.Join(missing, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *swarm) close() {
	var wg sync.WaitGroup
	for i := range s.nodes {
		wg.Go(func() { s.kill(i) })
	}
	wg.Wait()
}

// hostileNode is a node built from the product's parts with test code between its router
// and its links: roleLinks wraps what the router sends, roleHandler what it receives.
type hostileNode struct {
	role   role
	id     *crypto.NodeIdentity
	ds     *datastore.Store
	router *routing.Router
	tr     *transport.TCP
	delay  time.Duration

	active  atomic.Bool // acting on its role (unleash); honest until then
	mu      sync.Mutex
	spoiled map[crypto.NodeID]int // corrupted blocks a corrupting node sent, by peer; guarded by mu
	flooded atomic.Uint64         // requests a flooding node sent
	dropped atomic.Uint64         // requests and inserts a dropping node discarded

	ctx    context.Context // set by run, ended by close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newHostile(sn *swarmNode, cfg swarmConfig) (_ *hostileNode, err error) {
	h := &hostileNode{role: sn.role, delay: cfg.Delay, spoiled: map[crypto.NodeID]int{}}
	defer func() {
		if err != nil {
			h.closeParts()
		}
	}()
	if err := os.MkdirAll(sn.dir, 0o700); err != nil {
		return nil, err
	}
	h.id, _, err = transport.LoadOrCreateIdentity(filepath.Join(sn.dir, "identity"), "", crand.Reader)
	if err != nil {
		return nil, err
	}
	if h.ds, err = datastore.Open(filepath.Join(sn.dir, "store.db"), datastore.Options{Location: sn.loc}); err != nil {
		return nil, err
	}
	h.router = routing.New(routing.Config{
		Store:        hostileStore{h.ds},
		Location:     sn.loc,
		MaxPeers:     cfg.MaxPeers,
		Ref:          func() *wire.NodeRef { return h.tr.Ref() },
		SwapInterval: -1,
	})
	h.tr, err = transport.New(transport.Config{
		Identity:   h.id,
		ListenAddr: sn.addr,
		Handler:    roleHandler{h},
	})
	if err != nil {
		return nil, err
	}
	ref, err := wire.NewNodeRef(h.id, wire.NodeRefInfo{Addresses: []string{h.tr.Addr()}, Location: sn.loc, WithLocation: true})
	if err != nil {
		return nil, err
	}
	if err := h.tr.SetRef(ref); err != nil {
		return nil, err
	}
	h.router.Start(roleLinks{h.tr, h})
	return h, nil
}

// run accepts links, dials the node's friends (the transport redials them when they
// drop) and, for a flooding node, starts the flood.
func (h *hostileNode) run(friends []*wire.NodeRef) {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.wg.Go(func() { h.tr.Run(ctx) })
	for _, ref := range friends {
		h.wg.Go(func() {
			for ctx.Err() == nil {
				dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				err := h.tr.Connect(dctx, ref)
				cancel()
				if err == nil || errors.Is(err, transport.ErrClosed) {
					return
				}
				sleepCtx(ctx, time.Second)
			}
		})
	}
	h.ctx = ctx
}

// unleash makes the node act on its role; a flooding node starts its flood.
func (h *hostileNode) unleash() {
	if h == nil || h.active.Swap(true) {
		return
	}
	if h.role == flooding {
		h.wg.Go(func() { h.flood(h.ctx) })
	}
}

// flood sends every peer requests for random keys, each as fast as the peer's link takes
// them (Send waits while the link's queue is full).
func (h *hostileNode) flood(ctx context.Context) {
	rng := mrand.New(mrand.NewPCG(mrand.Uint64(), 1))
	for ctx.Err() == nil {
		links := h.tr.Links()
		if len(links) == 0 {
			sleepCtx(ctx, 10*time.Millisecond)
			continue
		}
		for _, l := range links {
			m := &wire.Request{KeyType: crypto.CHK, ID: rng.Uint64(), HTL: wire.MaxHTL, Stem: rng.Uint64(), Timeout: 10 * time.Second}
			for k := range m.Key {
				m.Key[k] = byte(rng.Uint32())
			}
			sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			if h.tr.Send(sctx, l.ID, m) == nil {
				h.flooded.Add(1)
			}
			cancel()
		}
	}
}

// corrupted returns how many corrupted blocks a corrupting node sent each peer.
func (h *hostileNode) corrupted() map[crypto.NodeID]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.spoiled)
}

// corruptedBy is corrupted by node index, for the log.
func (h *hostileNode) corruptedBy(s *swarm) map[int]int {
	out := map[int]int{}
	for id, n := range h.corrupted() {
		for j, sn := range s.nodes {
			if sn.id == id {
				out[j] = n
			}
		}
	}
	return out
}

func (h *hostileNode) close() {
	if h.cancel != nil {
		h.cancel()
	}
	h.closeParts()
	h.wg.Wait()
}

func (h *hostileNode) closeParts() {
	if h.router != nil {
		h.router.Close()
	}
	if h.tr != nil {
		h.tr.Close()
	}
	if h.ds != nil {
		h.ds.Close()
	}
}

// roleLinks is the hostile node's links as its router sees them: what the router sends
// passes through the role first.
type roleLinks struct {
	transport.Transport
	h *hostileNode
}

func (l roleLinks) Send(ctx context.Context, to crypto.NodeID, m wire.Message) error {
	if !l.h.active.Load() {
		return l.Transport.Send(ctx, to, m)
	}
	switch l.h.role {
	case corrupting:
		if c := corrupt(m); c != m {
			l.h.mu.Lock()
			l.h.spoiled[to]++
			l.h.mu.Unlock()
			m = c
		}
	case slow:
		if !sleepCtx(ctx, l.h.delay) {
			return ctx.Err()
		}
	}
	return l.Transport.Send(ctx, to, m)
}

// corrupt returns m with one byte of its block flipped, if it carries a block. The block is
// copied: the router may hold the same slice in its store.
func corrupt(m wire.Message) wire.Message {
	switch m := m.(type) {
	case *wire.DataReply:
		c := *m
		c.Block = bytes.Clone(m.Block)
		c.Block[len(c.Block)/2] ^= 0x5a
		return &c
	case *wire.Insert:
		c := *m
		c.Block = bytes.Clone(m.Block)
		c.Block[len(c.Block)/2] ^= 0x5a
		return &c
	}
	return m
}

// roleHandler is the hostile node's router as its links see it: what arrives passes
// through the role first.
type roleHandler struct{ h *hostileNode }

func (rh roleHandler) PeerUp(p transport.Peer)              { rh.h.router.PeerUp(p) }
func (rh roleHandler) PeerDown(id crypto.NodeID, err error) { rh.h.router.PeerDown(id, err) }
func (rh roleHandler) Receive(from crypto.NodeID, m wire.Message) {
	if !rh.h.active.Load() {
		rh.h.router.Receive(from, m)
		return
	}
	switch rh.h.role {
	case dropping:
		switch m.(type) {
		case *wire.Request, *wire.Insert:
			rh.h.dropped.Add(1)
			return
		}
	case slow:
		time.Sleep(rh.h.delay) // the link reads nothing meanwhile, as a slow machine's would
	}
	rh.h.router.Receive(from, m)
}

// hostileStore is the datastore as a hostile node's router uses it: it keeps what it is
// asked to store, and caches nothing (caching is a courtesy a hostile node need not pay).
type hostileStore struct{ ds *datastore.Store }

func (s hostileStore) Get(kt crypto.KeyType, rk crypto.RoutingKey) ([]byte, bool) {
	b, err := s.ds.Get(kt, rk)
	return b, err == nil
}

func (s hostileStore) Store(kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	return s.ds.Put(kt, rk, block, datastore.AreaStore)
}

func (s hostileStore) StoreTail(kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	return s.Store(kt, rk, block)
}

func (s hostileStore) Cache(crypto.KeyType, crypto.RoutingKey, []byte) error { return nil }

// sleepCtx waits d or until ctx ends, and reports whether it waited the whole d.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
