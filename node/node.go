package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"lethe/crypto"
	"lethe/datastore"
	"lethe/fcp"
	"lethe/fetch"
	"lethe/portmap"
	"lethe/private"
	"lethe/proxy"
	"lethe/routing"
	"lethe/transport"
	"lethe/wire"
)

// ErrAddrInUse: an address the node was told to listen on is taken, most likely by another
// node.
var ErrAddrInUse = errors.New("address already in use")

// Node is one Lethe node: its identity, datastore, links, router and local faces, wired
// together. New sets it up and binds its listeners; Run serves until its context ends and
// then stops in order (spec §19.3); Close stops it from another goroutine.
type Node struct {
	cfg Config
	log *slog.Logger

	id      *crypto.NodeIdentity
	created bool // this run made the identity: a first run
	keys    *insertKeys
	tmp     *private.Spool // insert data being hashed (tmp/)
	ds      *datastore.Store
	store   *blockStore
	router  *routing.Router
	tr      *transport.TCP
	// bandwidth limits and counts what the links move (Config.UploadLimit and the rest).
	bandwidth *transport.Bandwidth
	net       network
	editions  *fetch.Editions
	backend   *backend
	uploads   *uploads
	downloads *downloads
	fcp       *fcp.Server
	fcpLn     *clientListener // nil when FCP is off
	proxy     *proxy.Server
	proxyLn   *clientListener // nil when the proxy is off
	started   time.Time
	hist      *history

	refMu      sync.Mutex
	ref        *wire.NodeRef   // guarded by refMu
	refLoc     crypto.Location // the location ref carries (darknet); guarded by refMu
	outside    []string        // QUIC addresses learnt from peers or mapped, listed first in ref; guarded by refMu
	outsideTCP []string        // TCP addresses mapped on the router, listed first in ref; guarded by refMu
	mapper     *portmap.Mapper // nil when port mapping is off
	friends    *friendList

	cancelInserts, cancelFetches context.CancelFunc

	ready     chan struct{} // closed once Run serves
	runMu     sync.Mutex
	runCancel context.CancelFunc // set while Run runs; guarded by runMu
	running   chan struct{}      // closed when Run returns; guarded by runMu
	closeOnce sync.Once
	closeErr  error
}

// New sets up a node from cfg: it creates the data directory, identity and store on the
// first run (Created reports it), opens them otherwise, and binds the link, FCP and proxy
// listeners so that their addresses are known. Nothing is served until Run. If New fails,
// everything it opened is closed again.
func New(cfg Config) (*Node, error) {
	if cfg.Dir == "" {
		return nil, errors.New("node: Config.Dir is required")
	}
	cfg.setDefaults()
	hist := &history{}
	// Every error any part logs reaches the log in its redacted form (spec §19.10).
	cfg.Logger = slog.New(private.NewHandler(errorTap{next: cfg.Logger.Handler(), h: hist}, loggedSentinels...))
	n := &Node{cfg: cfg, log: cfg.Logger, hist: hist, editions: &fetch.Editions{}, started: time.Now(), ready: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			n.closeParts()
		}
	}()
	var err error
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("node: data directory: %w", err)
	}
	// Emptied of what an earlier run that stopped abruptly spooled there (which nobody can
	// read: its keys went with that run).
	if n.tmp, err = private.OpenSpool(n.tmpDir()); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if n.downloads, err = openDownloads(n.path(downloadsDir)); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	n.id, n.created, err = transport.LoadOrCreateIdentity(n.path(identityFile), cfg.Passphrase, cfg.Rand)
	if err != nil {
		return nil, fmt.Errorf("node: identity: %w", err)
	}
	if n.keys, err = loadInsertKeys(n.path(secretFile), cfg.Rand); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	loc, err := n.loadLocation()
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	n.ds, err = datastore.Open(n.path(storeFile), datastore.Options{
		StoreBytes: cfg.StoreBytes,
		CacheBytes: cfg.CacheBytes,
		// A relay's cache writes and a sink's tail's copies share commits (spec §8.4); a
		// sink's own copy is on disk before it answers an insert.
		SharedCommitDelay: datastore.DefaultSharedCommitDelay,
		Location:          loc,
		Logger:            n.log,
	})
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	n.store = newBlockStore(n.ds, n.log)

	if n.friends, err = loadFriends(FriendsFile(cfg.Dir)); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	seeds, err := ReadNodeRefs(SeedsFile(cfg.Dir))
	if err != nil {
		return nil, fmt.Errorf("node: seeds: %w", err)
	}
	seeds = append(seeds, cfg.Seeds...)
	if len(seeds) == 0 && cfg.Opennet {
		seeds = DefaultSeeds()
	}

	rcfg := routing.Config{
		Store:    n.store,
		Location: loc,
		Opennet:  cfg.Opennet,
		MaxPeers: cfg.MaxPeers,
		Ref:      n.Ref,
		Seeds:    seeds,
		SeedNode: cfg.SeedNode,
		Logger:   n.log.With("part", "routing"),
		Trace:    cfg.Trace,
		// The node relays and ends tunnels; its own requests and inserts go through them
		// unless its user asked for the stem (spec §18.11).
		Identity:   n.id,
		OwnTunnels: !cfg.Stem,
	}
	if cfg.Location != 0 {
		rcfg.SwapInterval = -1
	}
	if cfg.Opennet {
		// Offers from path folding and announcements are dialled through the transport,
		// which exists once the router it delivers to does.
		rcfg.Connect = func(ctx context.Context, ref *wire.NodeRef) error { return n.tr.Connect(ctx, ref) }
	}
	if cfg.BandwidthLimit > 0 {
		perPeer := float64(cfg.BandwidthLimit) / crypto.CHKBlockSize / float64(cfg.MaxPeers)
		rcfg.PeerRate, rcfg.PeerBurst = max(perPeer, 0.1), max(2*perPeer, 1)
	}
	n.router = routing.New(rcfg)
	n.net.r = n.router
	n.uploads, err = newUploads(n.path(uploadsDir), n.net, cfg.InsertWindow, func() int { return len(n.router.Peers()) }, n.log.With("part", "uploads"))
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}

	n.bandwidth = transport.NewBandwidth(transport.BandwidthLimits{Upload: cfg.UploadLimit, Download: cfg.DownloadLimit, Monthly: cfg.MonthlyCap}, nil)
	n.tr, err = transport.New(transport.Config{
		Bandwidth:  n.bandwidth,
		Identity:   n.id,
		ListenAddr: cfg.ListenAddr,
		QUICAddr:   quicListenAddr(cfg),
		Handler:    n.router,
		AcceptPeer: n.acceptPeer,
		WantsPunch: n.wantsPunch,
		Logger:     n.log.With("part", "transport"),
	})
	if err != nil {
		return nil, fmt.Errorf("node: links: %w", listenError(err))
	}
	if err := n.makeRef(loc); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	n.mapper = n.newMapper()
	n.router.Start(n.tr)

	insertCtx, cancelInserts := context.WithCancel(context.Background())
	fetchCtx, cancelFetches := context.WithCancel(context.Background())
	n.cancelInserts, n.cancelFetches = cancelInserts, cancelFetches
	n.backend = &backend{n: n, insertCtx: insertCtx, fetchCtx: fetchCtx}
	if cfg.FCPAddr != Off {
		if err := n.openFCP(); err != nil {
			return nil, err
		}
	}
	if cfg.ProxyAddr != Off {
		if err := n.openProxy(); err != nil {
			return nil, err
		}
	}
	ok = true
	return n, nil
}

func (n *Node) path(name string) string { return filepath.Join(n.cfg.Dir, name) }

// loadLocation decides the node's location: the configured one, the one kept from an
// earlier run, or a new random one, which is kept.
func (n *Node) loadLocation() (crypto.Location, error) {
	if n.cfg.Location != 0 {
		if !n.cfg.Location.Valid() {
			return 0, fmt.Errorf("location %v is not in [0,1)", n.cfg.Location)
		}
		return n.cfg.Location, nil
	}
	loc, ok, err := readLocation(n.path(locationFile))
	if err != nil || ok {
		return loc, err
	}
	var b [8]byte
	if _, err := io.ReadFull(n.cfg.Rand, b[:]); err != nil {
		return 0, fmt.Errorf("random location: %w", err)
	}
	loc = crypto.Location(float64(binary.BigEndian.Uint64(b[:])>>11) / (1 << 53))
	return loc, writeLocation(n.path(locationFile), loc)
}

// makeRef signs the node's noderef for its current addresses and, on darknet, its location.
func (n *Node) makeRef(loc crypto.Location) error {
	addrs, err := n.addresses()
	if err != nil {
		return err
	}
	n.refMu.Lock()
	tcp := firstDistinct(append(slices.Clone(n.outsideTCP), addrs...), wire.MaxAddresses)
	n.refMu.Unlock()
	info := wire.NodeRefInfo{Addresses: tcp, QUICAddresses: n.quicAddresses(addrs)}
	if !n.cfg.Opennet {
		info.Location, info.WithLocation = loc, true
	}
	ref, err := wire.NewNodeRef(n.id, info)
	if err != nil {
		return fmt.Errorf("noderef: %w", err)
	}
	if err := n.tr.SetRef(ref); err != nil {
		return fmt.Errorf("noderef: %w", err)
	}
	n.refMu.Lock()
	n.ref, n.refLoc = ref, loc
	n.refMu.Unlock()
	return nil
}

// addresses are what the noderef lists (Config.Addresses).
func (n *Node) addresses() ([]string, error) {
	if len(n.cfg.Addresses) > 0 {
		return n.cfg.Addresses, nil
	}
	host, port, err := net.SplitHostPort(n.tr.Addr())
	if err != nil {
		return nil, fmt.Errorf("listening address %q: %w", n.tr.Addr(), err)
	}
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		return []string{net.JoinHostPort(ip.String(), port)}, nil
	}
	var out []string
	ifaddrs, _ := net.InterfaceAddrs()
	for _, a := range ifaddrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || !ipn.IP.IsGlobalUnicast() {
			continue
		}
		out = append(out, net.JoinHostPort(ipn.IP.String(), port))
		if len(out) == wire.MaxAddresses {
			break
		}
	}
	if len(out) == 0 {
		out = []string{net.JoinHostPort("127.0.0.1", port)}
	}
	return out, nil
}

// Ref is the node's current noderef: what friends add, and what seeds and path folding pass
// on.
func (n *Node) Ref() *wire.NodeRef {
	n.refMu.Lock()
	defer n.refMu.Unlock()
	return n.ref
}

// ID is the node's identity.
func (n *Node) ID() crypto.NodeID { return n.id.ID() }

// Created reports whether New made a new identity: the first run in this data directory.
func (n *Node) Created() bool { return n.created }

// Dir is the node's data directory.
func (n *Node) Dir() string { return n.cfg.Dir }

// FCPAddr is where the client protocol listens ("" if it is off).
func (n *Node) FCPAddr() string {
	if n.fcpLn == nil {
		return ""
	}
	return n.fcpLn.Addr().String()
}

// ProxyAddr is where the browsing proxy listens ("" if it is off).
func (n *Node) ProxyAddr() string {
	if n.proxyLn == nil {
		return ""
	}
	return n.proxyLn.Addr().String()
}

// LinkAddr is where the node accepts links from other nodes.
func (n *Node) LinkAddr() string { return n.tr.Addr() }

// Router is the node's router, for tests and the testnet's reports.
func (n *Node) Router() *routing.Router { return n.router }

func (n *Node) openFCP() error {
	ln, err := net.Listen("tcp", n.cfg.FCPAddr)
	if err != nil {
		return fmt.Errorf("node: client protocol on %s: %w", n.cfg.FCPAddr, listenError(err))
	}
	if a, ok := ln.Addr().(*net.TCPAddr); ok && !a.IP.IsLoopback() {
		n.log.Warn("the client protocol listens beyond this machine; it has no authentication", "addr", a.String())
	}
	srv, err := fcp.NewServer(fcp.Config{
		Backend:         n.backend,
		Addr:            ln.Addr().String(),
		StateDir:        n.path(fcpDir),
		TempDir:         n.tmpDir(),
		Testnet:         n.cfg.Testnet,
		Version:         Version,
		Build:           BuildNumber,
		Revision:        Build().Revision,
		Admin:           admin{n},
		USKPollInterval: n.cfg.USKPollInterval,
		Logger:          n.log.With("part", "fcp"),
	})
	if err != nil {
		ln.Close()
		return fmt.Errorf("node: client protocol: %w", err)
	}
	n.fcp, n.fcpLn = srv, &clientListener{Listener: ln}
	return nil
}

// listenError names a taken address as ErrAddrInUse.
func listenError(err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%w: %w", ErrAddrInUse, err)
	}
	return err
}

// acceptPeer is the transport's policy for nodes that dial in: friends always, unless the
// router refuses them for bad blocks; strangers only on opennet, and only when the router
// wants another peer.
func (n *Node) acceptPeer(p transport.Peer) error {
	if n.router.Refuses(p.Ref.ID()) {
		return transport.ErrRefused // it sent blocks that do not verify
	}
	if n.friends.has(p.Ref.ID()) {
		return nil
	}
	if n.cfg.Opennet && n.router.WantsPeer(p.Ref.ID()) {
		return nil
	}
	return transport.ErrRefused
}

// wantsPunch is the transport's policy for introductions: the node helps a node punch
// through towards it when it would accept its link.
func (n *Node) wantsPunch(id crypto.NodeID) bool {
	if n.router.Refuses(id) {
		return false
	}
	return n.friends.has(id) || n.cfg.Opennet && n.router.WantsPeer(id)
}

// Run serves until ctx ends or Close is called, then stops the node in order (spec §19.3)
// and returns. It may be called once.
func (n *Node) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n.runMu.Lock()
	if n.running != nil {
		n.runMu.Unlock()
		return errors.New("node: Run called twice")
	}
	n.runCancel, n.running = cancel, make(chan struct{})
	done := n.running
	n.runMu.Unlock()
	defer close(done)

	var wg sync.WaitGroup
	trCtx, stopTransport := context.WithCancel(context.Background())
	wg.Go(func() {
		if err := n.tr.Run(trCtx); err != nil {
			n.log.Error("links stopped", "err", err)
		}
	})
	if n.fcp != nil {
		wg.Go(func() {
			if err := n.fcp.Serve(n.fcpLn); err != nil && !errors.Is(err, fcp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				n.log.Error("client protocol stopped", "err", err)
			}
		})
	}
	if n.mapper != nil {
		// The mapper talks to the router beside the node; when Run returns it removes the
		// router's mappings (bounded: 2 s each).
		mapCtx, stopMapping := context.WithCancel(context.Background())
		mapped := make(chan struct{})
		go func() {
			defer close(mapped)
			n.mapper.Run(mapCtx)
		}()
		defer func() { stopMapping(); <-mapped }()
	}
	n.uploads.resume()
	n.writeStatus()
	close(n.ready)
	if n.proxy != nil {
		wg.Go(n.serveProxy)
	}
	maintained := make(chan struct{})
	go func() {
		defer close(maintained)
		n.maintain(ctx)
	}()

	<-ctx.Done()
	<-maintained // no status round runs while the node stops
	err := n.shutdown(stopTransport)
	wg.Wait()
	return err
}

// Ready is closed once Run serves: links, client protocol and status file.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// Close stops the node: it ends Run, if it runs, and waits for it; otherwise it closes what
// New opened. It is idempotent.
func (n *Node) Close() error {
	n.runMu.Lock()
	cancel, running := n.runCancel, n.running
	if running == nil {
		n.running = make(chan struct{}) // Run may no longer start
		close(n.running)
	}
	n.runMu.Unlock()
	if cancel != nil { // Run runs or ran: it stops the node
		cancel()
		<-running
		return n.closeErr
	}
	return n.shutdown(func() {})
}

// shutdown stops the parts in order: the local faces take no new requests, inserts in
// progress get DrainTimeout to finish and are then cancelled (their clients are told), the
// client protocol closes, then the router, the links and last the store (spec §19.3).
func (n *Node) shutdown(stopTransport context.CancelFunc) error {
	n.closeOnce.Do(func() {
		if n.fcpLn != nil {
			n.fcpLn.Close()
		}
		if n.proxyLn != nil {
			n.proxyLn.Close()
		}
		idle := n.backend.drain()
		n.cancelFetches()
		running, _ := n.backend.running()
		if running > 0 {
			n.log.Info("waiting for inserts in progress", "inserts", running, "at most", n.cfg.DrainTimeout)
		}
		if !drainWait(idle, n.cfg.DrainTimeout) {
			ins, _ := n.backend.running()
			n.log.Warn("stopping: cancelling inserts still in progress; their clients are told they failed", "inserts", ins)
			n.cancelInserts()
			drainWait(idle, 5*time.Second)
		}
		if n.fcp != nil {
			if running > 0 {
				// The server sends an insert's last reply after the backend returns: let
				// those replies go out before the connections close.
				n.fcpLn.settle(250*time.Millisecond, 3*time.Second)
			}
			n.fcp.Close()
		}
		if n.proxy != nil {
			n.proxy.Close() // cancels the fetches and inserts it runs
		}
		n.closeErr = n.closeParts() // the uploads, the router, then the links, then the store
		stopTransport()
		n.cancelInserts()
		os.Remove(n.path(statusFile))
		n.log.Info("node stopped")
	})
	return n.closeErr
}

// closeParts closes the router, the links and the store, whichever were opened.
func (n *Node) closeParts() error {
	var errs []error
	if n.fcp != nil {
		n.fcp.Close()
	} else if n.fcpLn != nil {
		n.fcpLn.Close()
	}
	if n.proxy != nil {
		n.proxy.Close()
	}
	if n.proxyLn != nil {
		n.proxyLn.Close()
	}
	if n.uploads != nil {
		n.uploads.close() // each keeps its block log: the next start resumes it
	}
	if n.router != nil {
		n.router.Close()
	}
	if n.tr != nil {
		if err := n.tr.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if n.store != nil {
		n.store.Close()
	}
	if n.ds != nil {
		if err := n.ds.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
	}
	if n.router != nil && n.cfg.Location == 0 {
		if err := writeLocation(n.path(locationFile), n.router.Location()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// clientListener is the client protocol's listener. The node closes it before the server
// closes the connections it has, so that no client connects while inserts finish; and it
// notes when anything was last written to a client, so that the node can let the last
// replies of finished inserts go out before the server closes their connections.
type clientListener struct {
	net.Listener
	once      sync.Once
	err       error
	lastWrite atomic.Int64 // UnixNano of the last write to any client connection
}

func (l *clientListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &clientConn{Conn: c, l: l}, nil
}

func (l *clientListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}

// settle waits until nothing has been written to a client for quiet, counting from now at
// the earliest, and at most limit.
func (l *clientListener) settle(quiet, limit time.Duration) {
	start := time.Now()
	deadline := start.Add(limit)
	for time.Now().Before(deadline) {
		last := time.Unix(0, l.lastWrite.Load())
		if last.Before(start) {
			last = start
		}
		if time.Since(last) >= quiet {
			return
		}
		time.Sleep(quiet / 5)
	}
}

type clientConn struct {
	net.Conn
	l *clientListener
}

func (c *clientConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.l.lastWrite.Store(time.Now().UnixNano())
	return n, err
}
