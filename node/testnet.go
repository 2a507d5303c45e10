package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// Test network defaults (spec §19.6).
const (
	DefaultTestnetNodes = 12
	// DefaultTestnetPeers is the testnet's MaxPeers. It also sets the mean length of the
	// HTL-18 stem (2 + MaxPeers/2 hops), so a small value keeps a small network's paths short.
	DefaultTestnetPeers = 4
	// testnetLongLinks is how many long links each node makes beyond its ring neighbours.
	testnetLongLinks = 1
)

// TestnetConfig describes a test network.
type TestnetConfig struct {
	// Nodes is how many nodes to start; DefaultTestnetNodes if zero. At least 2.
	Nodes int
	// Dir holds one data directory per node (node-00, node-01, …). Empty: a new temporary
	// directory, removed by Close.
	Dir string
	// FCPAddr and ProxyAddr are the first node's; DefaultFCPAddr and DefaultProxyAddr if
	// empty. If the address is taken, a free port is used instead and Notes says so. The
	// other nodes serve FCP on free loopback ports.
	FCPAddr, ProxyAddr string
	// MaxPeers is every node's MaxPeers; DefaultTestnetPeers if zero.
	MaxPeers int
	// StoreBytes and CacheBytes bound each node's store and cache (Config's defaults if 0).
	StoreBytes, CacheBytes int64
	// Seed picks the long links; the same seed gives the same topology.
	Seed uint64
	// Logger receives every node's log, each line tagged with the node's number.
	Logger *slog.Logger
	// Edit, if set, adjusts each node's Config before it is made.
	Edit func(i int, c *Config)
}

// Testnet is a small network of real nodes on loopback in one process, connected as darknet
// friends in a small-world graph: a ring of evenly spaced fixed locations, plus long links
// drawn with probability proportional to 1/distance (Kleinberg's construction, which greedy
// routing finds short paths in). Every link is a real TLS connection on 127.0.0.1.
type Testnet struct {
	Nodes []*Node
	// Links lists the friendships, each once, lower index first.
	Links [][2]int
	// Dir is the parent of the nodes' data directories.
	Dir string
	// Notes are things the user should know (a default port that was taken).
	Notes []string

	removeDir bool
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// StartTestnet starts a test network and returns once every node has linked to all its
// friends (or ctx ends). Close stops it.
func StartTestnet(ctx context.Context, cfg TestnetConfig) (_ *Testnet, err error) {
	if cfg.Nodes == 0 {
		cfg.Nodes = DefaultTestnetNodes
	}
	if cfg.Nodes < 2 {
		return nil, fmt.Errorf("a test network needs at least 2 nodes, not %d", cfg.Nodes)
	}
	if cfg.MaxPeers == 0 {
		cfg.MaxPeers = DefaultTestnetPeers
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	tn := &Testnet{Dir: cfg.Dir}
	if tn.Dir == "" {
		if tn.Dir, err = os.MkdirTemp("", "lethe-testnet-"); err != nil {
			return nil, err
		}
		tn.removeDir = true
	}
	defer func() {
		if err != nil {
			tn.Close()
		}
	}()
	tn.Links = SmallWorld(cfg.Nodes, testnetLongLinks, cfg.Seed)

	for i := range cfg.Nodes {
		c := Config{
			Dir:        filepath.Join(tn.Dir, fmt.Sprintf("node-%02d", i)),
			ListenAddr: "127.0.0.1:0",
			// One process on loopback has no NAT to cross, and a QUIC link costs about
			// 3.5 times the CPU of a TCP one per byte here (docs/performance.md): the test
			// network's links are TCP.
			QUICAddr:     Off,
			Location:     testnetLocation(i, cfg.Nodes),
			MaxPeers:     cfg.MaxPeers,
			StoreBytes:   cfg.StoreBytes,
			CacheBytes:   cfg.CacheBytes,
			FCPAddr:      "127.0.0.1:0",
			ProxyAddr:    Off,
			Testnet:      true,
			DrainTimeout: 5 * time.Second,
			Logger:       cfg.Logger.With("node", i),
		}
		if i == 0 {
			c.FCPAddr = orDefault(cfg.FCPAddr, DefaultFCPAddr)
			c.ProxyAddr = orDefault(cfg.ProxyAddr, DefaultProxyAddr)
		}
		if cfg.Edit != nil {
			cfg.Edit(i, &c)
		}
		n, err := tn.newNode(c)
		if err != nil {
			return nil, fmt.Errorf("testnet node %d: %w", i, err)
		}
		tn.Nodes = append(tn.Nodes, n)
	}
	friends := make([][]*wire.NodeRef, cfg.Nodes)
	for _, l := range tn.Links {
		a, b := tn.Nodes[l[0]], tn.Nodes[l[1]]
		friends[l[0]] = append(friends[l[0]], b.Ref())
		friends[l[1]] = append(friends[l[1]], a.Ref())
	}
	for i, n := range tn.Nodes {
		if _, err := AddFriend(n.Dir(), n.ID(), friends[i]...); err != nil {
			return nil, err
		}
		if _, _, err := n.friends.reload(); err != nil {
			return nil, err
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	tn.cancel = cancel
	for i, n := range tn.Nodes {
		tn.wg.Go(func() {
			if err := n.Run(runCtx); err != nil {
				cfg.Logger.Error("testnet node stopped with an error", "node", i, "err", err)
			}
		})
	}
	if err := tn.waitLinked(ctx, friends); err != nil {
		return nil, err
	}
	return tn, nil
}

// newNode makes a node, moving the first node's FCP or proxy to a free port if its address
// is taken.
func (tn *Testnet) newNode(c Config) (*Node, error) {
	for {
		n, err := New(c)
		if err == nil || !errors.Is(err, ErrAddrInUse) {
			return n, err
		}
		switch {
		case c.FCPAddr != "127.0.0.1:0" && c.FCPAddr != Off && isAddrErrorFor(err, "client protocol"):
			tn.Notes = append(tn.Notes, fmt.Sprintf("%s is taken (another node running?); the client protocol uses a free port instead", c.FCPAddr))
			c.FCPAddr = "127.0.0.1:0"
		case c.ProxyAddr != "127.0.0.1:0" && c.ProxyAddr != Off && isAddrErrorFor(err, "proxy"):
			tn.Notes = append(tn.Notes, fmt.Sprintf("%s is taken; the proxy uses a free port instead", c.ProxyAddr))
			c.ProxyAddr = "127.0.0.1:0"
		default:
			return nil, err
		}
	}
}

func isAddrErrorFor(err error, what string) bool {
	return err != nil && strings.Contains(err.Error(), what)
}

// waitLinked waits until every node has a link, with a known location, to each friend.
// A friendship still missing is dialled again every second (the nodes themselves retry only
// every 10 s), from the node with the lower index.
func (tn *Testnet) waitLinked(ctx context.Context, friends [][]*wire.NodeRef) error {
	deadline := time.Now().Add(30 * time.Second)
	lastDial := time.Now()
	var dials sync.WaitGroup
	defer dials.Wait()
	for {
		missing := 0
		for i, n := range tn.Nodes {
			have := map[crypto.NodeID]bool{}
			for _, p := range n.router.Peers() {
				if p.Location >= 0 {
					have[p.ID] = true
				}
			}
			for _, f := range friends[i] {
				if have[f.ID()] {
					continue
				}
				missing++
				if time.Since(lastDial) >= time.Second && n.ID().String() < f.ID().String() {
					dials.Go(func() { n.dial(ctx, f) })
				}
			}
		}
		if time.Since(lastDial) >= time.Second {
			lastDial = time.Now()
		}
		if missing == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testnet: %d friendships not linked after 30 s", missing)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Close stops every node and removes the directory if StartTestnet made it.
func (tn *Testnet) Close() error {
	tn.closeOnce.Do(func() {
		if tn.cancel != nil {
			tn.cancel()
			tn.wg.Wait()
		}
		var errs []error
		for _, n := range tn.Nodes {
			if err := n.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if tn.removeDir {
			if err := os.RemoveAll(tn.Dir); err != nil {
				errs = append(errs, err)
			}
		}
		tn.closeErr = errors.Join(errs...)
	})
	return tn.closeErr
}

// Hops returns the number of links on the shortest path from node i to every node.
func (tn *Testnet) Hops(i int) []int {
	adj := make([][]int, len(tn.Nodes))
	for _, l := range tn.Links {
		adj[l[0]] = append(adj[l[0]], l[1])
		adj[l[1]] = append(adj[l[1]], l[0])
	}
	dist := make([]int, len(tn.Nodes))
	for j := range dist {
		dist[j] = -1
	}
	dist[i] = 0
	queue := []int{i}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, w := range adj[v] {
			if dist[w] < 0 {
				dist[w] = dist[v] + 1
				queue = append(queue, w)
			}
		}
	}
	return dist
}

// Farthest returns the node with the most links between it and node i (the lowest index
// among equals).
func (tn *Testnet) Farthest(i int) int {
	hops, best := tn.Hops(i), i
	for j, d := range hops {
		if d > hops[best] {
			best = j
		}
	}
	return best
}

// testnetLocation spreads n nodes evenly round the circle, off zero (zero means "no fixed
// location" in Config).
func testnetLocation(i, n int) crypto.Location {
	return crypto.Location((float64(i) + 0.5) / float64(n))
}

// SmallWorld returns the links of a ring of n nodes plus, for each node, long links to nodes
// drawn with probability proportional to 1/(ring distance), without duplicates: the shape of
// the test network, and of the networks tests build from nodes of their own.
func SmallWorld(n, long int, seed uint64) [][2]int {
	rng := mrand.New(mrand.NewPCG(seed, 0x6c657468652d746e)) // "lethe-tn"
	has := map[[2]int]bool{}
	var links [][2]int
	add := func(a, b int) bool {
		if a == b {
			return false
		}
		if a > b {
			a, b = b, a
		}
		if has[[2]int{a, b}] {
			return false
		}
		has[[2]int{a, b}] = true
		links = append(links, [2]int{a, b})
		return true
	}
	for i := range n {
		add(i, (i+1)%n)
	}
	if n < 4 {
		return links
	}
	for i := range n {
		weights := make([]float64, n)
		total := 0.0
		for j := range n {
			d := min((j-i+n)%n, (i-j+n)%n)
			if d > 1 {
				weights[j] = 1 / float64(d)
				total += weights[j]
			}
		}
		for made, tries := 0, 0; made < long && tries < 100; tries++ {
			x := rng.Float64() * total
			j := 0
			for ; j < n-1; j++ {
				if x -= weights[j]; x < 0 && weights[j] > 0 {
					break
				}
			}
			if weights[j] > 0 && add(i, j) {
				made++
			}
		}
	}
	return links
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
