package transport

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// checkLeaks fails the test if any goroutine started by this package is still running when
// the test ends (after the test's other cleanups, which close the transports).
func checkLeaks(tb testing.TB) {
	tb.Helper()
	tb.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			leaked := packageGoroutines()
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				tb.Errorf("%d goroutines leaked:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func packageGoroutines() []string {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		// The transport's own goroutines, and those of the QUIC stack it runs.
		if strings.Contains(g, "created by lethe/transport.") || strings.Contains(g, "created by github.com/quic-go/") {
			out = append(out, g)
		}
	}
	return out
}

func testIdentity(tb testing.TB, name string) *crypto.NodeIdentity {
	tb.Helper()
	return crypto.NewNodeIdentity(sha256.Sum256([]byte("lethe transport test " + name)))
}

// event is one Handler call, as a recorder saw it.
type event struct {
	kind string // "up", "msg", "down"
	from crypto.NodeID
	peer Peer
	msg  wire.Message
	err  error
	// release gives back the buffer a Borrower was lent with msg (nodeOptions.borrow); nil
	// for a message given to Receive.
	release func()
}

// recorder is a Handler that records every event on a channel. If reply is set it runs on
// the handler goroutine for each message before the message is recorded.
type recorder struct {
	events chan event
	reply  func(from crypto.NodeID, m wire.Message)
}

func newRecorder() *recorder { return &recorder{events: make(chan event, 1<<14)} }

func (r *recorder) PeerUp(p Peer) { r.events <- event{kind: "up", from: p.Ref.ID(), peer: p} }
func (r *recorder) Receive(from crypto.NodeID, m wire.Message) {
	if r.reply != nil {
		r.reply(from, m)
	}
	r.events <- event{kind: "msg", from: from, msg: m}
}

// borrower is a recorder that takes the buffers of block-carrying messages on loan
// (Borrower): each such event carries its release.
type borrower struct{ *recorder }

func (r borrower) ReceiveLent(from crypto.NodeID, m wire.Message, release func()) {
	r.events <- event{kind: "msg", from: from, msg: m, release: release}
}

func (r *recorder) PeerDown(id crypto.NodeID, err error) {
	r.events <- event{kind: "down", from: id, err: err}
}

// next waits for the next event of the given kind, skipping others, and fails after a while.
func (r *recorder) next(tb testing.TB, kind string) event {
	tb.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-r.events:
			if ev.kind == kind {
				return ev
			}
		case <-timeout:
			tb.Fatalf("no %q event within 10s", kind)
		}
	}
}

// none checks that no event of kind arrives for d.
func (r *recorder) none(tb testing.TB, kind string, d time.Duration) {
	tb.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev := <-r.events:
			if ev.kind == kind {
				tb.Fatalf("unexpected %q event: %+v", kind, ev)
			}
		case <-timeout:
			return
		}
	}
}

// node is one transport under test with its recorder.
type node struct {
	Transport
	id  crypto.NodeID
	ref *wire.NodeRef
	rec *recorder
	tcp *TCP     // set for a real node
	mem *MemNode // set for an in-memory node
	log *logBuffer
}

// nodeOptions adjust a test node.
type nodeOptions struct {
	quic      bool   // also accept and dial QUIC links
	host      string // the loopback address to listen on; 127.0.0.1 if empty
	limits    Limits
	bandwidth *Bandwidth // limits and counts the node's links
	accept    func(Peer) error
	reply     func(n *node, from crypto.NodeID, m wire.Message) // runs on the handler goroutine
	borrow    bool                                              // the handler is a Borrower (real nodes)
}

func (o nodeOptions) recorder(n *node) *recorder {
	r := newRecorder()
	if o.reply != nil {
		r.reply = func(from crypto.NodeID, m wire.Message) { o.reply(n, from, m) }
	}
	return r
}

// newTCPNode starts a real transport on 127.0.0.1:0, closed at the end of the test.
func newTCPNode(tb testing.TB, name string, opt nodeOptions) *node {
	tb.Helper()
	id := testIdentity(tb, name)
	n := &node{id: id.ID(), log: &logBuffer{}}
	n.rec = opt.recorder(n)
	host := cmp.Or(opt.host, "127.0.0.1")
	quicAddr := ""
	if opt.quic {
		quicAddr = host + ":0"
	}
	var h Handler = n.rec
	if opt.borrow {
		h = borrower{n.rec}
	}
	tr, err := New(Config{
		Identity:   id,
		ListenAddr: host + ":0",
		QUICAddr:   quicAddr,
		Handler:    h,
		AcceptPeer: opt.accept,
		Limits:     opt.limits,
		Bandwidth:  opt.bandwidth,
		Logger:     slog.New(slog.NewTextHandler(n.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
		tr.Close()
	})
	n.Transport, n.ref, n.tcp = tr, tr.Ref(), tr
	return n
}

// newMemNode joins network with a fresh node, closed at the end of the test.
func newMemNode(tb testing.TB, network *MemNetwork, name string, opt nodeOptions) *node {
	tb.Helper()
	id := testIdentity(tb, name)
	ref, err := wire.NewNodeRef(id, wire.NodeRefInfo{Location: 0.5, WithLocation: true})
	if err != nil {
		tb.Fatal(err)
	}
	n := &node{id: id.ID(), ref: ref}
	n.rec = opt.recorder(n)
	m, err := network.Join(MemConfig{Ref: ref, Handler: n.rec, AcceptPeer: opt.accept, MaxQueuedBytes: opt.limits.MaxQueuedBytes})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	n.Transport, n.mem = m, m
	return n
}

// pair makes two nodes, real or in memory, and links a to b.
func pair(tb testing.TB, real bool, optA, optB nodeOptions) (a, b *node) {
	tb.Helper()
	if real {
		return pairOver(tb, "tcp", optA, optB)
	}
	return pairOver(tb, "mem", optA, optB)
}

// linkKinds are the kinds of links the transport's tests run over.
var linkKinds = []string{"mem", "tcp", "quic"}

// pairOver makes two nodes whose link is of the given kind ("mem", "tcp" or "quic") and links
// a to b.
func pairOver(tb testing.TB, kind string, optA, optB nodeOptions) (a, b *node) {
	tb.Helper()
	switch kind {
	case "mem":
		network := NewMemNetwork()
		a, b = newMemNode(tb, network, "a", optA), newMemNode(tb, network, "b", optB)
	case "tcp", "quic":
		optA.quic, optB.quic = kind == "quic", kind == "quic"
		a, b = newTCPNode(tb, "a", optA), newTCPNode(tb, "b", optB)
	default:
		tb.Fatalf("link kind %q", kind)
	}
	if err := a.Connect(context.Background(), b.ref); err != nil {
		tb.Fatal(err)
	}
	if up := a.rec.next(tb, "up"); up.from != b.id || !up.peer.Outbound || !up.peer.Ref.Equal(b.ref) || up.peer.Version != wire.MaxVersion {
		tb.Fatalf("a: PeerUp(%+v)", up.peer)
	}
	if up := b.rec.next(tb, "up"); up.from != a.id || up.peer.Outbound || !up.peer.Ref.Equal(a.ref) {
		tb.Fatalf("b: PeerUp(%+v)", up.peer)
	}
	if a.tcp != nil {
		if got := linkOf(tb, a, b).kind.String(); got != kind {
			tb.Fatalf("link over %s, want %s", got, kind)
		}
	}
	return a, b
}

// logBuffer collects a transport's log output for tests to search.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// chkBlock is a CHK-sized block filled with a recognisable pattern.
func chkBlock(pattern string) []byte {
	return bytes.Repeat([]byte(pattern), crypto.CHKBlockSize/len(pattern)+1)[:crypto.CHKBlockSize]
}

func ctxTimeout(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}
