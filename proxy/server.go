package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"lethe/crypto"
	"lethe/fetch"
	"lethe/insert"
	"lethe/private"
)

// DefaultAddr is where the proxy is reached unless configured otherwise (spec §20).
const DefaultAddr = "127.0.0.1:8888"

// Tuning (not part of any format).
const (
	// DefaultMaxSize is the largest file served or inserted when Config.MaxSize is 0: any
	// size the format describes (spec §12.2); both stream.
	DefaultMaxSize = 1 << 53
	// progressSize is the size from which a file opened in a browser tab is fetched in the
	// background behind a progress page rather than streamed while the tab waits blankly.
	progressSize = 4 << 20
	// fetchBudget bounds the bytes that the fetches of all requests may hold in memory at
	// once (a fetch holds up to a few segments); requests beyond it wait for their turn.
	fetchBudget = 128 << 20
	// editionRecheck is how long the newest edition found for a site is trusted before a
	// request for the site looks for a newer one again.
	editionRecheck = time.Minute
	// editionSearchTime bounds the search for a newer edition made while a browser waits.
	editionSearchTime = 20 * time.Second
	// bookmarkRefresh is how often the newest editions of bookmarked sites are looked for.
	bookmarkRefresh = 30 * time.Minute
	// docCacheBytes bounds the resolved metadata kept in memory.
	docCacheBytes = 32 << 20
	// blockCacheBytes bounds the blocks kept in memory for pages opened again.
	blockCacheBytes = 64 << 20
)

// progressWait is how long a tab waits for a background download before the progress page
// shows, so that a file the node already holds opens at once. (A variable for the tests.)
var progressWait = 1500 * time.Millisecond

// Errors a caller branches on.
var (
	// ErrClosed: the server has been closed.
	ErrClosed = errors.New("proxy: server closed")
	// ErrNotLoopback: Serve was handed a listener on an address other than loopback, while
	// Config.Addr does not name that address as the one the proxy is reached at.
	ErrNotLoopback = errors.New("proxy: listener is not on loopback")
)

// Config says what the proxy serves and how. The zero value works, but a proxy without a
// Getter can serve only its own pages, and one without a Putter cannot insert.
type Config struct {
	// Getter fetches blocks: the node's router.
	Getter fetch.BlockGetter
	// Putter inserts blocks, for the insert page.
	Putter insert.BlockPutter
	// Uploads, if set, takes the insert page's CHK, SSK and KSK inserts: their blocks go into
	// the node's block log, the transfer page shows the URI as soon as the content is
	// encoded, and the upload goes on in the background (spec §19.13, §20.4). Without it
	// inserts go through Putter and the URI comes when they end.
	Uploads Uploads
	// Status returns a snapshot of the node for the status page; if nil, the page says that
	// there is no node information.
	Status func() Status
	// Addr is the host and port the proxy is reached as (DefaultAddr if empty). Requests
	// whose Host header names anything else are refused, against DNS rebinding; the same
	// port on "localhost", and the address of every listener handed to Serve, are accepted
	// too. A listener on an address other than loopback is refused unless Addr names it.
	Addr string
	// StateDir keeps the bookmarks and the secret that CSRF tokens derive from, so that
	// both survive a restart, and the blocks of large downloads while they wait to be
	// served. If empty, state lives in memory and downloads in the system's temporary
	// directory.
	StateDir string
	// MaxSize is the largest file served or inserted, in bytes (DefaultMaxSize if 0).
	MaxSize int64
	// Logger receives the proxy's logs; nil is silent.
	Logger *slog.Logger
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// Uploads takes inserts whose URI is known before their upload is done (the node's uploads).
type Uploads interface {
	// Upload runs insertInto into a block log, returns the URI, and starts the upload; wait
	// follows it until the network holds the content, reporting blocks uploaded of total.
	Upload(ctx context.Context, insertInto func(insert.BlockPutter) (crypto.RequestURI, error)) (uri crypto.RequestURI, wait func(ctx context.Context, progress func(uploaded, total int64)) error, err error)
}

// Server is the browsing proxy. Create it with New, hand it listeners with Serve (or mount
// Handler in a server of your own), and Close it.
type Server struct {
	cfg      Config
	log      *slog.Logger
	guard    *guard
	editions *fetch.Editions
	docs     *lru[string, resolved]
	blocks   *blockCache
	budget   *budget
	searches editionSearches
	pages    *pages
	marks    *bookmarks
	indexes  openIndexes
	xfers    *transfers
	spool    *private.Spool // where downloads keep their blocks and uploads their files

	ctx    context.Context // cancelled by Close; every fetch and insert derives from it
	cancel context.CancelFunc
	wg     sync.WaitGroup // requests being served and background work

	mu        sync.Mutex
	closed    bool           // guarded by mu
	servers   []*http.Server // guarded by mu
	closeOnce sync.Once
}

// New makes a proxy from cfg. It reads the state in cfg.StateDir, creating the directory if
// needed, and starts looking for the newest editions of bookmarked sites.
func New(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Errors reach the log only in their redacted form, from the proxy and from the fetches
	// and inserts it runs (spec §19.10): their texts name keys and files.
	log = slog.New(private.NewHandler(log.Handler(), loggedSentinels...))
	if cfg.StateDir != "" {
		if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
			return nil, fmt.Errorf("proxy: state directory: %w", err)
		}
	}
	g, err := newGuard(cfg.Addr, cfg.StateDir)
	if err != nil {
		return nil, err
	}
	sp, err := openSpool(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	marks, err := loadBookmarks(cfg.StateDir)
	if err != nil {
		sp.Remove()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:      cfg,
		log:      log,
		guard:    g,
		editions: &fetch.Editions{},
		docs:     newDocCache(docCacheBytes),
		blocks:   newBlockCache(blockCacheBytes),
		budget:   newBudget(fetchBudget),
		pages:    newPages(),
		marks:    marks,
		xfers:    newTransfers(cfg.Now),
		spool:    sp,
		ctx:      ctx,
		cancel:   cancel,
	}
	if cfg.Getter != nil {
		s.wg.Go(s.refreshBookmarks)
	}
	return s, nil
}

// openSpool opens the directory where large downloads keep their blocks until they are
// served and uploaded sites their files until they are inserted (spec §20): "spool" in the
// state directory, emptied of what a crash left (and "downloads", where earlier versions kept
// blocks under their routing keys), or a fresh directory in the system's temporary directory.
func openSpool(stateDir string) (*private.Spool, error) {
	dir := filepath.Join(stateDir, "spool")
	if stateDir == "" {
		tmp, err := os.MkdirTemp("", "lethe-proxy-")
		if err != nil {
			return nil, fmt.Errorf("proxy: spool directory: %w", err)
		}
		dir = tmp
	} else if err := os.RemoveAll(filepath.Join(stateDir, "downloads")); err != nil {
		return nil, fmt.Errorf("proxy: clear the old download directory: %w", err)
	}
	sp, err := private.OpenSpool(dir)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	return sp, nil
}

// Serve answers HTTP requests on ln until Close, then returns nil; after Close it closes ln
// and returns ErrClosed. It refuses a listener that is not on loopback unless Config.Addr
// names the listener's host (ErrNotLoopback).
func (s *Server) Serve(ln net.Listener) error {
	if err := s.checkListener(ln.Addr()); err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	s.servers = append(s.servers, srv)
	s.guard.allow(ln.Addr().String())
	s.mu.Unlock()
	s.log.Info("proxy: serving", "addr", ln.Addr().String())
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("proxy: serve: %w", err)
}

func (s *Server) checkListener(a net.Addr) error {
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return fmt.Errorf("proxy: listener address %q: %w", a, err)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	want, _, _ := net.SplitHostPort(s.cfg.Addr)
	if want == host {
		return nil
	}
	return fmt.Errorf("%w: %s (configure Addr as that address to serve on it)", ErrNotLoopback, a)
}

// Handler returns the proxy's HTTP handler, for mounting in a server of the caller's. The
// caller must still Close the proxy, which waits for the requests being served.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(s.serveHTTP)
}

// Close stops the proxy: it closes the servers Serve started, cancels every fetch and insert
// in flight, waits for them and for the requests being served to end, and removes the
// blocks of downloads kept for the browser. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		servers := s.servers
		s.mu.Unlock()
		s.cancel()
		for _, srv := range servers {
			srv.Close()
		}
		s.wg.Wait()
		s.xfers.closeDownloads()
		s.spool.Remove()
	})
	return nil
}

// begin counts a request or background job as running, unless the server is closed; the
// caller calls s.wg.Done when it ends.
func (s *Server) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// requestContext is the context of work done for a request: it ends when the browser goes
// away or the server closes.
func (s *Server) requestContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(s.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}
