package tunnel

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// Spec constants (§18.11).
const (
	// tunnelLinks is a tunnel's length: guard, middle, end.
	tunnelLinks = 3
	// minPeerList is the shortest peer list an originator extends through, where its own
	// peers show that longer ones exist (choosing.go).
	minPeerList = 8
)

// Tuning (§18.11; nodes may differ).
const (
	// DefaultMaxTunnels is how many tunnels, each through its own guard, a session may use:
	// each more tunnel is one more chance that a guard and an end collude (k·f² of
	// downloads for k tunnels and a colluding share f), and 3 keeps that at 3% for f = 10%
	// (docs/performance.md, "Tunnels with the routers").
	DefaultMaxTunnels = 3
	// blocksPerTunnel: a session takes one more tunnel for every this many blocks it asked for.
	blocksPerTunnel = 64
	// stepTimeout bounds each step of a build (a TunnelCreate or an Extend answered);
	// answerTimeout the wait for a request's answer: the end's search time and some.
	stepTimeout   = 10 * time.Second
	answerTimeout = 70 * time.Second
	// hedgeAfter: a request or insert not answered in this long goes also through another
	// of its session's tunnels, to another end (spec §18.11.8). A search usually answers
	// within seconds; one kept longer is most often at an end a flood keeps busy.
	hedgeAfter = 15 * time.Second
	// circuitIdle: a circuit no cell has crossed for this long is destroyed.
	circuitIdle = 2 * time.Minute
	// sessionIdle: a session's tunnels are closed after this long unused.
	sessionIdle = time.Minute
	// keyLifetime is how long a tunnel key is used; attestations say so plus keyGrace.
	keyLifetime = 3 * time.Hour
	keyGrace    = time.Hour
	// maxKeyUses bounds the encapsulations one tunnel key takes (and so the table that
	// catches replays): at this many it is replaced early.
	maxKeyUses = 100_000
	// Limits a hop checks before any cryptography.
	maxCircuitsPerPeer = 64
	maxCircuits        = 4000
	createRate         = 20
	createBurst        = 100
	// maxEndInFlight is how many requests and inserts one circuit may have in progress at
	// its end: a session's window.
	maxEndInFlight = 32
	// maxOwnPerGuard bounds the node's own tunnels through one guard. The guard takes at
	// most maxCircuitsPerPeer circuits from this node, and every session builds its own
	// tunnels; past this many, a new session shares the least busy tunnel through that guard
	// instead of building (spec §18.11.3), so that a user who opens many downloads in a
	// minute never runs out of room at a guard.
	maxOwnPerGuard = 16
	// sweepInterval is how often idle circuits and sessions are looked for.
	sweepInterval = 15 * time.Second
)

// End is what a node does with the requests and inserts that come out of a tunnel it ends
// (spec §18.11.6): package routing searches and inserts as a node that ends a stem does.
// Fetch returns only a block it has verified against kt and rk, as the node verifies every
// block it is sent or reads from its store; the tunnels do not hash it again.
// Errors are wire's outcomes (wire.ErrDataNotFound, wire.ErrRouteNotFound,
// wire.ErrOverloaded, a *wire.CollisionError); anything else counts as not found.
type End interface {
	Fetch(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey) ([]byte, error)
	Insert(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error
}

// Config sets up a node's tunnels. Identity, Send and End are required.
type Config struct {
	Identity *crypto.NodeIdentity
	// Send queues a message for a peer without waiting long: it is called from the link's
	// event goroutine. A message it cannot queue is lost; the tunnels' timeouts cover that.
	// Send must be done with m's bytes when it returns (encoded, or copied to be sent later):
	// the tunnels reuse the buffers of the cells they make (cellBuffers).
	Send func(to crypto.NodeID, m wire.Message) error
	End  End

	// MaxTunnels is how many tunnels a session may use at once, default DefaultMaxTunnels.
	MaxTunnels int
	// StepTimeout bounds each step of a build, default 10 s; AnswerTimeout the wait for the
	// answer to a request or insert, default 70 s (the end's search may take the request
	// timeout, 60 s). A tunnel that does not answer in time is destroyed. A busy simulation
	// raises both.
	StepTimeout, AnswerTimeout time.Duration
	// HedgeAfter is how long a request or insert waits for its end's answer before it goes
	// also through another tunnel of its session, default 15 s (spec §18.11.8).
	HedgeAfter time.Duration

	// Rand is the source of tunnel keys, circuit IDs and sequence numbers, default
	// crypto/rand; Seed makes the choice of hops repeatable (tests, simulation).
	Rand io.Reader
	Seed *[32]byte
	// Now is the clock, default time.Now.
	Now func() time.Time
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// Trace, if set, is called for what the simulator measures (Event).
	Trace func(Event)
	// GuardsChanged, if set, is told the node's guards whenever they change (outside the
	// tunnels' locks): a node keeps its links to them.
	GuardsChanged func(guards []crypto.NodeID)
	// ShowPeers, if set, changes the peer list this node shows in its Created: the
	// simulator's active colluders show only colluders. A node leaves it nil.
	ShowPeers func([]*crypto.TunnelAttestation) []*crypto.TunnelAttestation
}

// EventKind says what an Event records.
type EventKind uint8

const (
	EventBuilt   EventKind = iota + 1 // this node built a tunnel (Hops)
	EventRequest                      // this node sent a request or insert for Key into a tunnel (Hops)
	EventRetired                      // this node retired a tunnel whose end answered overloaded (Hops)
)

// Event is something the simulator measures.
type Event struct {
	Kind    EventKind
	Hops    []crypto.NodeID // the tunnel's hops from the guard to the end
	Key     crypto.RoutingKey
	Session uint64
}

// Errors of the originator's side.
var (
	// ErrNoTunnel: no tunnel could be built (no peer, or every build failed).
	ErrNoTunnel = errors.New("no tunnel could be built")
	// ErrClosed: the node's tunnels have been closed.
	ErrClosed = errors.New("tunnels closed")
)

// Tunnels is one node's part in tunnels: relay, end and originator. Create it with New,
// feed it with PeerUp, PeerDown and Receive, run it with Run, and Close it.
type Tunnels struct {
	cfg Config
	log *slog.Logger
	me  crypto.NodeID

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	keys struct {
		sync.Mutex
		cur    *crypto.TunnelKey
		expiry time.Time         // when cur is replaced
		used   map[[32]byte]bool // hashes of encapsulations accepted under cur (replays)
	}
	peers struct {
		sync.Mutex
		m map[crypto.NodeID]*peerState
	}
	circuits struct {
		sync.Mutex
		in  map[link]*hop     // circuits a peer created here: keyed by that peer and its ID
		out map[link]outbound // circuits this node created at a peer: a relay's next hop or its own tunnel
	}
	relayed atomic.Uint64 // cells passed on along other nodes' tunnels
	own     struct {
		sync.Mutex
		rng      *mrand.Rand
		guards   []*guard
		short    map[crypto.NodeID]time.Time // peers not to take as guards until then
		busyEnds map[crypto.NodeID]time.Time // ends that answered overloaded or were hedged: not to end a new tunnel until then
		sessions map[uint64]*session
		// live is the node's own tunnels by place (the guard they go through), whichever
		// sessions hold them; building, the builds under way for each place.
		live     map[int][]*tunnel
		building map[int]int
		closed   bool
	}
}

// link names a circuit on one link: the peer at its other side and the ID chosen by whichever
// side sent the TunnelCreate.
type link struct {
	peer    crypto.NodeID
	circuit uint64
}

// outbound is a circuit this node created: either a relay's hop toward its successor, or the
// first link of one of its own tunnels.
type outbound struct {
	relay *hop
	own   *tunnel
}

// peerState is what the tunnels know of one connected peer; guarded by peers' lock.
type peerState struct {
	att     *crypto.TunnelAttestation // the peer's tunnel key, attested for this link
	in      int                       // circuits it created here
	creates tokenBucket               // its allowance of TunnelCreates
}

// New makes a node's tunnels. It does nothing until Run.
func New(cfg Config) *Tunnels {
	if cfg.Identity == nil || cfg.Send == nil || cfg.End == nil {
		panic("tunnel: New needs Identity, Send and End")
	}
	if cfg.MaxTunnels <= 0 {
		cfg.MaxTunnels = DefaultMaxTunnels
	}
	if cfg.StepTimeout <= 0 {
		cfg.StepTimeout = stepTimeout
	}
	if cfg.HedgeAfter <= 0 {
		cfg.HedgeAfter = hedgeAfter
	}
	if cfg.AnswerTimeout <= 0 {
		cfg.AnswerTimeout = answerTimeout
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var seed [32]byte
	if cfg.Seed != nil {
		seed = *cfg.Seed
	} else if _, err := io.ReadFull(cfg.Rand, seed[:]); err != nil {
		panic("tunnel: reading randomness: " + err.Error())
	}
	t := &Tunnels{cfg: cfg, log: cfg.Logger, me: cfg.Identity.ID()}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.peers.m = map[crypto.NodeID]*peerState{}
	t.circuits.in = map[link]*hop{}
	t.circuits.out = map[link]outbound{}
	t.own.rng = mrand.New(mrand.NewChaCha8(seed))
	t.own.sessions = map[uint64]*session{}
	t.own.live, t.own.building = map[int][]*tunnel{}, map[int]int{}
	t.keys.used = map[[32]byte]bool{}
	t.rotateKeyLocked(cfg.Now())
	return t
}

// Run sweeps idle circuits and sessions and renews the tunnel key until ctx ends or the
// tunnels close.
func (t *Tunnels) Run(ctx context.Context) error {
	tick := time.NewTicker(sweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.ctx.Done():
			return nil
		case <-tick.C:
			t.Sweep()
		}
	}
}

// Sweep destroys idle circuits, closes idle sessions and renews the tunnel key if its time
// has come. Run calls it; the simulator, whose clock jumps, calls it itself.
func (t *Tunnels) Sweep() {
	now := t.cfg.Now()
	t.sweepCircuits(now)
	t.sweepSessions(now)
	t.keys.Lock()
	renew := !now.Before(t.keys.expiry)
	if renew {
		t.rotateKeyLocked(now)
	}
	t.keys.Unlock()
	if renew {
		t.announceKey()
	}
}

// announceKey sends every peer the attestation of the current tunnel key.
func (t *Tunnels) announceKey() {
	t.peers.Lock()
	ids := make([]crypto.NodeID, 0, len(t.peers.m))
	for id := range t.peers.m {
		ids = append(ids, id)
	}
	t.peers.Unlock()
	for _, id := range ids {
		t.sendKey(id)
	}
}

// Relayed is how many cells this node has passed on along other nodes' tunnels, both ways.
func (t *Tunnels) Relayed() uint64 { return t.relayed.Load() }

// Close destroys the node's own tunnels and every circuit it relays, and waits for its
// goroutines. It is idempotent.
func (t *Tunnels) Close() error {
	t.own.Lock()
	t.own.closed = true
	sessions := t.own.sessions
	t.own.sessions = map[uint64]*session{}
	t.own.Unlock()
	for _, s := range sessions {
		t.closeSession(s)
	}
	t.cancel()
	t.circuits.Lock()
	var hops []*hop
	for _, h := range t.circuits.in {
		hops = append(hops, h)
	}
	t.circuits.Unlock()
	for _, h := range hops {
		t.destroyHop(h, wire.DestroyClosed, nil)
	}
	t.wg.Wait()
	return nil
}

// rotateKeyLocked replaces the tunnel key. The old one is forgotten at once: a TunnelCreate to
// it still in flight opens nothing, and its tunnel is built again. Callers hold keys' lock.
func (t *Tunnels) rotateKeyLocked(now time.Time) {
	k, err := crypto.GenerateTunnelKey(t.cfg.Rand)
	if err != nil {
		panic("tunnel: " + err.Error())
	}
	t.keys.cur, t.keys.expiry = k, now.Add(keyLifetime)
	clear(t.keys.used)
}

// sendKey sends a peer this node's attestation for their link.
func (t *Tunnels) sendKey(to crypto.NodeID) {
	t.keys.Lock()
	pub, notAfter := t.keys.cur.Public(), t.keys.expiry.Add(keyGrace)
	t.keys.Unlock()
	t.send(to, &wire.TunnelKey{Attestation: crypto.SignTunnelAttestation(t.cfg.Identity, to, notAfter, pub)})
}

// cellBuffers recycles the buffers a cell's content is encoded and sealed in: at a tunnel's
// end every block found goes back in one, and at its originator every block inserted.
var cellBuffers = sync.Pool{New: func() any { return new([wire.TunnelBlockCellBody]byte) }}

func (t *Tunnels) send(to crypto.NodeID, m wire.Message) {
	if err := t.cfg.Send(to, m); err != nil {
		t.log.Debug("tunnel message not sent", "peer", to, "type", m.Type(), "err", err)
	}
}

// PeerUp tells the tunnels a link came up: the peer is sent this node's tunnel key.
func (t *Tunnels) PeerUp(id crypto.NodeID) {
	t.peers.Lock()
	if t.peers.m[id] == nil {
		t.peers.m[id] = &peerState{creates: tokenBucket{rate: createRate, burst: createBurst, tokens: createBurst, last: t.cfg.Now()}}
	}
	t.peers.Unlock()
	t.sendKey(id)
}

// PeerDown tells the tunnels a link went down: every circuit over it is destroyed, on both
// sides of this node.
func (t *Tunnels) PeerDown(id crypto.NodeID) {
	t.peers.Lock()
	delete(t.peers.m, id)
	t.peers.Unlock()
	t.circuits.Lock()
	var hops []*hop
	var own []*tunnel
	for l, h := range t.circuits.in {
		if l.peer == id {
			hops = append(hops, h)
		}
	}
	for l, o := range t.circuits.out {
		if l.peer == id {
			if o.relay != nil {
				hops = append(hops, o.relay)
			} else {
				own = append(own, o.own)
			}
		}
	}
	t.circuits.Unlock()
	for _, h := range hops {
		t.destroyHop(h, wire.DestroyLinkLost, &id)
	}
	for _, tu := range own {
		t.circuits.Lock()
		delete(t.circuits.out, tu.first)
		t.circuits.Unlock()
		tu.fail(fmt.Errorf("%w: link to the guard went down", ErrNoTunnel))
	}
}

// ErrProtocol is returned by Receive for a message only a broken or hostile peer sends; the
// caller drops the link.
var ErrProtocol = errors.New("tunnel protocol violation")

// Receive handles a tunnel message from a peer. It returns quickly: creates and the requests
// a tunnel's end serves get goroutines of their own. Other messages are ignored.
func (t *Tunnels) Receive(from crypto.NodeID, m wire.Message) error {
	switch m := m.(type) {
	case *wire.TunnelKey:
		return t.receiveKey(from, m.Attestation)
	case *wire.TunnelCreate:
		t.receiveCreate(from, m)
	case *wire.TunnelCell:
		if m.Back {
			t.receiveBackward(from, m)
		} else {
			t.receiveForward(from, m)
		}
	case *wire.TunnelDestroy:
		t.receiveDestroy(from, m)
	}
	return nil
}

// receiveKey keeps a peer's attestation for the link: it must be the peer's, name this node,
// and not have expired (spec §18.11.1).
func (t *Tunnels) receiveKey(from crypto.NodeID, a *crypto.TunnelAttestation) error {
	switch {
	case a.Signer != from:
		return fmt.Errorf("%w: attestation signed by %v, not the peer", ErrProtocol, a.Signer.Short())
	case a.Peer != t.me:
		return fmt.Errorf("%w: attestation names %v as its peer, not this node", ErrProtocol, a.Peer.Short())
	case !t.cfg.Now().Before(a.NotAfter):
		return fmt.Errorf("%w: attestation expired at %v", ErrProtocol, a.NotAfter)
	}
	t.peers.Lock()
	defer t.peers.Unlock()
	if p := t.peers.m[from]; p != nil {
		p.att = a
	}
	return nil
}

// attestation is the key a peer attested for its link to this node, if any and still valid.
func (t *Tunnels) attestation(id crypto.NodeID) *crypto.TunnelAttestation {
	t.peers.Lock()
	defer t.peers.Unlock()
	if p := t.peers.m[id]; p != nil && p.att != nil && t.cfg.Now().Before(p.att.NotAfter) {
		return p.att
	}
	return nil
}

// peerList is what this node shows as its peer list in a Created: its peers' attestations,
// at most wire.MaxTunnelPeers of them, chosen at random if it has more.
func (t *Tunnels) peerList() []*crypto.TunnelAttestation {
	now := t.cfg.Now()
	t.peers.Lock()
	var out []*crypto.TunnelAttestation
	for _, p := range t.peers.m {
		if p.att != nil && now.Before(p.att.NotAfter) {
			out = append(out, p.att)
		}
	}
	t.peers.Unlock()
	if t.cfg.ShowPeers != nil {
		out = t.cfg.ShowPeers(out)
	}
	if len(out) > wire.MaxTunnelPeers {
		t.own.Lock()
		t.own.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		t.own.Unlock()
		out = out[:wire.MaxTunnelPeers]
	}
	return out
}

// peerIDs lists this node's peers that have attested their tunnel keys.
func (t *Tunnels) peerIDs() []crypto.NodeID {
	now := t.cfg.Now()
	t.peers.Lock()
	defer t.peers.Unlock()
	out := make([]crypto.NodeID, 0, len(t.peers.m))
	for id, p := range t.peers.m {
		if p.att != nil && now.Before(p.att.NotAfter) {
			out = append(out, id)
		}
	}
	return out
}

// randomUint64 draws from Rand: circuit IDs and sequence numbers must not be guessable by
// peers, who might otherwise aim cells at circuits they do not belong to.
func (t *Tunnels) randomUint64() uint64 {
	var b [8]byte
	if _, err := io.ReadFull(t.cfg.Rand, b[:]); err != nil {
		panic("tunnel: reading randomness: " + err.Error())
	}
	return binary.BigEndian.Uint64(b[:])
}

// newCircuitLocked picks an unused ID for a circuit this node creates at peer. Callers hold
// circuits' lock.
func (t *Tunnels) newCircuitLocked(peer crypto.NodeID) uint64 {
	for {
		c := t.randomUint64()
		if _, ok := t.circuits.out[link{peer, c}]; !ok {
			return c
		}
	}
}

// encHash is how an accepted encapsulation is remembered (replays, spec §18.11.4).
func encHash(enc []byte) [32]byte { return sha256.Sum256(enc) }

// tokenBucket is a rate limit; its owner's lock guards it.
type tokenBucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func (b *tokenBucket) take(now time.Time) bool {
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(b.burst, b.tokens+dt*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (t *Tunnels) trace(e Event) {
	if t.cfg.Trace != nil {
		t.cfg.Trace(e)
	}
}
