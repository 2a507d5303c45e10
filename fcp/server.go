package fcp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultAddr is where Freenet's clients look for the client protocol.
const DefaultAddr = "127.0.0.1:9481"

// ProtocolVersion is the version of Freenet's client protocol the server speaks (spec §16).
const ProtocolVersion = "2.0"

// Tuning defaults (not part of the protocol).
const (
	DefaultMaxDataLength         = 1 << 53 // bytes of data in one message: the format's own limit (spec §12.2), none of the node's
	DefaultMaxConns              = 128
	DefaultMaxRequestsPerConn    = 256
	DefaultMaxPersistentRequests = 1000
	// DefaultFirstMessageTimeout bounds the wait for a connection's ClientHello, which a
	// client sends as soon as it connects.
	DefaultFirstMessageTimeout = 10 * time.Second
	// DefaultIdleTimeout: a connection that waits for nothing and sends nothing for this
	// long is closed.
	DefaultIdleTimeout = 10 * time.Minute
	// memorySpoolLimit is the largest data the server holds in memory rather than in a
	// temporary file: a site's files, a fetched file waiting to be sent.
	memorySpoolLimit = 4 << 20
)

// Config configures a Server. The zero value works except for Backend.
type Config struct {
	// Backend inserts and fetches. Required.
	Backend Backend
	// Addr is where Run listens; DefaultAddr if empty. Keep it on loopback: the protocol
	// has no authentication, and anyone who can connect can insert, fetch and read the
	// global queue.
	Addr string
	// MaxDataLength bounds the data of one message (a file put, a site's files together)
	// and of one fetched file; DefaultMaxDataLength if zero.
	MaxDataLength int64
	// MaxConns bounds open connections; more are closed at once. DefaultMaxConns if zero.
	MaxConns int
	// MaxRequestsPerConn bounds the requests one connection has running at once.
	MaxRequestsPerConn int
	// MaxPersistentRequests bounds the requests kept on the persistent queues together.
	MaxPersistentRequests int
	// FirstMessageTimeout: a connection whose first message (ClientHello) has not arrived
	// whole this long after it was accepted is closed. DefaultFirstMessageTimeout if zero.
	FirstMessageTimeout time.Duration
	// IdleTimeout: a connection on which no byte arrives for this long, while it waits for
	// nothing (no request of its own running, not watching the global queue, nothing
	// running on its client's queue), is closed. DefaultIdleTimeout if zero.
	IdleTimeout time.Duration
	// StateDir, if set, is a directory where the persistent queue (Persistence=forever) is
	// kept, with the data of its inserts and the results of its fetches, so that it
	// survives a restart. If empty, the queue lives only as long as the server.
	StateDir string
	// TempDir holds temporary files for large data; os.TempDir() if empty.
	TempDir string
	// NodeName and Version appear in NodeHello; "Lethe" and "0.1.0" if empty.
	NodeName, Version string
	// Build is the integer build number Freenet's clients read from NodeHello; 1 if zero.
	Build int
	// Revision is NodeHello's Revision, the source revision the node was built from;
	// Version if empty.
	Revision string
	// Testnet says whether this node runs a test network (NodeHello's Testnet).
	Testnet bool
	// CompressionCodecs are the names NodeHello advertises; clients send them back in
	// Codecs, which Lethe accepts and leaves to the Backend. {"GZIP"} if empty.
	CompressionCodecs []string
	// DiskAccessFromAnyHost lets clients that do not connect from this machine do the TestDDA
	// handshake and have the node read files (UploadFrom=disk, ClientPutDiskDir); off, they
	// are refused with ProtocolError 25.
	DiskAccessFromAnyHost bool
	// USKPollInterval is how often a USK subscription looks for a newer edition;
	// DefaultUSKPollInterval if zero.
	USKPollInterval time.Duration
	// Admin answers the node-management messages (GetNode, ListPeers, AddPeer, ModifyPeer,
	// RemovePeer, GetConfig, ModifyConfig, Shutdown); without it they are ProtocolError 16.
	Admin Admin
	// Logger receives the server's logs; none if nil.
	Logger *slog.Logger
	// Rand is the randomness for GenerateSSK and connection identifiers; crypto/rand if nil.
	Rand io.Reader
	// Now is the clock for StartupTime and CompletionTime; time.Now if nil.
	Now func() time.Time
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("fcp: server closed")

// Server is the client-protocol server. Create it with NewServer, hand it listeners with
// Serve (or call Run), and Close it.
type Server struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context // cancelled with errServerClosed by Close
	cancel context.CancelCauseFunc
	queue  *queue

	mu        sync.Mutex // guards listeners, conns, closed
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closed    bool

	wg           sync.WaitGroup // every goroutine the server starts
	resumeOnce   sync.Once
	closeOnce    sync.Once
	connCounter  uint64 // guarded by mu
	listenerAddr chan net.Addr
}

// Causes of cancellation, told apart when a request ends.
var (
	errServerClosing = errors.New("server closing")
	errConnClosed    = errors.New("client connection closed")
	errRemoved       = errors.New("request removed by the client")
)

// NewServer makes a server. If cfg.StateDir holds a queue from an earlier run, it is loaded
// now and its unfinished requests resume when the server first serves.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Backend == nil {
		return nil, errors.New("fcp: Config.Backend is required")
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.MaxDataLength <= 0 {
		cfg.MaxDataLength = DefaultMaxDataLength
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxRequestsPerConn <= 0 {
		cfg.MaxRequestsPerConn = DefaultMaxRequestsPerConn
	}
	if cfg.MaxPersistentRequests <= 0 {
		cfg.MaxPersistentRequests = DefaultMaxPersistentRequests
	}
	if cfg.FirstMessageTimeout <= 0 {
		cfg.FirstMessageTimeout = DefaultFirstMessageTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.NodeName == "" {
		cfg.NodeName = "Lethe"
	}
	if cfg.Version == "" {
		cfg.Version = "0.1.0"
	}
	if cfg.Build <= 0 {
		cfg.Build = 1
	}
	if cfg.USKPollInterval <= 0 {
		cfg.USKPollInterval = DefaultUSKPollInterval
	}
	if cfg.Revision == "" {
		cfg.Revision = cfg.Version
	}
	if len(cfg.CompressionCodecs) == 0 {
		cfg.CompressionCodecs = []string{"GZIP"}
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:          cfg,
		log:          log,
		listeners:    map[net.Listener]struct{}{},
		conns:        map[*conn]struct{}{},
		listenerAddr: make(chan net.Addr, 1),
	}
	s.ctx, s.cancel = context.WithCancelCause(context.Background())
	q, err := openQueue(s, cfg.StateDir)
	if err != nil {
		return nil, err
	}
	s.queue = q
	return s, nil
}

// Run listens on cfg.Addr and serves until ctx ends, then closes the server.
func (s *Server) Run(ctx context.Context) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("fcp: listen: %w", err)
	}
	if a, ok := ln.Addr().(*net.TCPAddr); ok && !a.IP.IsLoopback() {
		s.log.Warn("fcp: the client protocol listens beyond this machine; it has no authentication, so anyone who reaches it can insert, fetch and read the global queue", "addr", a.String())
	}
	select {
	case s.listenerAddr <- ln.Addr():
	default:
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ln) }()
	select {
	case <-ctx.Done():
		s.Close()
		<-errc
		return nil
	case err := <-errc:
		s.Close()
		if errors.Is(err, ErrServerClosed) {
			return nil
		}
		return err
	}
}

// Addr waits until Run listens and returns its address (useful with Addr "127.0.0.1:0").
func (s *Server) Addr(ctx context.Context) (net.Addr, error) {
	select {
	case a := <-s.listenerAddr:
		s.listenerAddr <- a
		return a, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Serve accepts connections on ln until Close, and returns ErrServerClosed then. It closes ln.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	s.resumeOnce.Do(s.queue.resume)
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("fcp: accept: %w", err)
		}
		s.accept(nc)
	}
}

// accept starts the goroutine of one connection, or refuses it when the server is full.
func (s *Server) accept(nc net.Conn) {
	s.mu.Lock()
	if s.closed || len(s.conns) >= s.cfg.MaxConns {
		full := !s.closed
		s.mu.Unlock()
		if full {
			s.log.Warn("fcp: refusing a connection: too many open", "limit", s.cfg.MaxConns)
		}
		nc.Close()
		return
	}
	s.connCounter++
	c := newConn(s, nc, s.connCounter)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		c.serve()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
}

// spawn runs f in a goroutine that Close waits for, unless the server is closing.
func (s *Server) spawn(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// Close stops listening, closes every connection, cancels every request (persistent ones
// resume at the next start when a StateDir is set), and waits for all of the server's
// goroutines. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		for ln := range s.listeners {
			ln.Close()
		}
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		s.cancel(errServerClosing)
	})
	s.wg.Wait()
	return nil
}

// watchers returns the open connections that should see messages of the persistent queue
// owned by owner: for the global queue those that sent WatchGlobal, for a client's own queue
// those opened under that client's name.
func (s *Server) watchers(o owner) []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*conn
	for c := range s.conns {
		if o.global && c.watchGlobal.Load() || !o.global && c.clientName() == o.name {
			out = append(out, c)
		}
	}
	return out
}

// nodeHello is the reply to ClientHello (spec §16.2).
func (s *Server) nodeHello(connID string) *Message {
	codecs := make([]string, len(s.cfg.CompressionCodecs))
	for i, c := range s.cfg.CompressionCodecs {
		codecs[i] = c + "(" + strconv.Itoa(i) + ")"
	}
	build := strconv.Itoa(s.cfg.Build)
	return NewMessage("NodeHello",
		"FCPVersion", ProtocolVersion,
		"Node", s.cfg.NodeName,
		"Version", s.cfg.NodeName+","+s.cfg.Version+",2.0,"+build,
		"Build", build,
		"Revision", s.cfg.Revision,
		"ExtBuild", "0",
		"ExtRevision", "0",
		"Testnet", strconv.FormatBool(s.cfg.Testnet),
		"CompressionCodecs", strconv.Itoa(len(codecs))+" - "+strings.Join(codecs, ", "),
		"ConnectionIdentifier", connID,
		"NodeLanguage", "ENGLISH",
	)
}
