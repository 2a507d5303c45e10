package routing

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"lethe/crypto"
	"lethe/routing/internal/tuning"
	"lethe/routing/tunnel"
	"lethe/transport"
	"lethe/wire"
)

// Store is the node's block store as routing uses it: the datastore fills it in a node, an
// in-memory double in the simulator. Get serves only verified blocks; Store keeps a block
// long-term (this node is its sink) and has it on disk when it returns; StoreTail keeps a
// copy long-term as a node of a sink's tail, served at once and on disk within the store's
// shared-commit delay (spec §8.4); Cache keeps it as recent traffic. The router verifies
// every block (Config.VerifyBlock) before it gives it to any of them, so a store need not
// verify it again.
type Store interface {
	Get(kt crypto.KeyType, rk crypto.RoutingKey) (block []byte, ok bool)
	Store(kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error
	StoreTail(kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error
	Cache(kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error
}

// A CopyingStore is a Store that keeps no block slice it is given past the call that gave
// it: what it keeps, it copies (the node's datastore seals a copy; a write it queues holds a
// copy of its own). The router gives such a store inserted blocks straight from the buffers
// the transport lends it (transport.Borrower), and gives each buffer back when its insert
// has ended here. MemStore is not one: it keeps the slices it is given.
type CopyingStore interface {
	Store
	CopiesWhatItKeeps()
}

// Outcomes of a request or insert that callers branch on. The first three are the outcomes
// the wire protocol reports (spec §10.3): the same values as package wire's, so that what a
// peer answers and what this node's user is told are one vocabulary, converted to and from
// messages only by wire.ReplyError and wire.ErrorReply.
var (
	// ErrDataNotFound: the request ran out of hops-to-live without finding the block.
	ErrDataNotFound = wire.ErrDataNotFound
	// ErrRouteNotFound: no peer was left to try before hops-to-live ran out. The error is
	// a *wire.RouteNotFoundError with the hops-to-live left, possibly wrapped.
	ErrRouteNotFound = wire.ErrRouteNotFound
	// ErrOverloaded: every peer that could take the request refused it as too busy.
	ErrOverloaded = wire.ErrOverloaded
	// ErrNoPeers: this node has no connected peer with a known location.
	ErrNoPeers = errors.New("no peers connected")
	// ErrClosed: the router has been closed.
	ErrClosed = errors.New("router closed")
)

// Config sets up a Router: what a node sets. The zero value of every field but Store works.
type Config struct {
	Store Store

	// Location is where this node sits on the circle. Zero means a random location, which is
	// what opennet nodes use; darknet nodes then move by swapping.
	Location crypto.Location
	// Opennet lets the node take strangers as peers: it answers announcements and does path
	// folding. Without it the node is darknet only: friends, and location swapping.
	Opennet bool
	// MaxPeers is the number of peers the node aims for, default 20. It also sets the
	// length of the HTL-18 stem (StemKeepProbability).
	MaxPeers int
	// Ref returns this node's current noderef, offered in path folding and announcements.
	Ref func() *wire.NodeRef
	// Connect dials a peer offered by path folding or an announcement; a node sets it to its
	// transport's Connect. Nil means offers are ignored.
	Connect func(ctx context.Context, ref *wire.NodeRef) error
	// Seeds are the opennet nodes this node announces itself through when it joins and
	// whenever it runs short of peers (Maintain).
	Seeds []*wire.NodeRef
	// SeedNode makes this node a seed: it takes any newcomer's link for its announcement,
	// beyond MaxPeers, and closes it again afterwards if it has no room for a real peer.
	SeedNode bool
	// PeerRate and PeerBurst limit the requests and inserts a peer may start per second,
	// default 1000 and 2000 (spec §18.5): a node's bandwidth limit (spec §19.1). Past them a
	// peer is answered RejectedOverload.
	PeerRate, PeerBurst float64
	// SwapInterval is how often a darknet node starts a location swap, default 10 s;
	// negative means never on its own (a node at a fixed location; the simulator, which
	// calls Swap).
	SwapInterval time.Duration

	// Seed makes the router's random choices repeatable (tests, simulation). Nil draws a
	// seed from crypto/rand.
	Seed *[32]byte
	// Now is the clock, default time.Now.
	Now func() time.Time
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// Trace, if set, is called for every routing event (the simulator's measurements,
	// tests). It runs synchronously on routing goroutines and must be quick.
	Trace func(Event)
	// Identity is the node's identity. With it the node relays and ends other nodes'
	// tunnels (spec §18.11); a node always sets it. Without it (tests of the walk alone)
	// there are no tunnels.
	Identity *crypto.NodeIdentity
	// OwnTunnels sends the node's own requests and inserts through tunnels (spec §18.11,
	// which needs Identity). Without it they walk the stem from this node (spec §18.2).
	// Package node sets it unless its user asks for the stem.
	OwnTunnels bool

	// Tuning holds the settings only this module's simulator and the router's tests change
	// (package routing/internal/tuning, which no package outside lethe/routing can import):
	// timeouts, limits, the stem's length, the block check. Nil: the defaults, which every
	// node uses.
	Tuning *tuning.Options
}

// settings is a Config with every default filled in, tuning included.
type settings struct {
	Config
	tuning.Options
}

func newSettings(c Config) settings {
	s := settings{Config: c}
	if c.Tuning != nil {
		s.Options = *c.Tuning
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if s.MaxPeers <= 0 {
		s.MaxPeers = 20
	}
	if s.PeerRate <= 0 {
		s.PeerRate = 1000
	}
	if s.PeerBurst <= 0 {
		s.PeerBurst = 2000
	}
	def(&s.SwapInterval, swapInterval)
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.RequestTimeout <= 0 {
		s.RequestTimeout = 60 * time.Second
	}
	if s.AcceptTimeout <= 0 {
		s.AcceptTimeout = 5 * time.Second
	}
	if s.MaxActive <= 0 {
		s.MaxActive = 4000
	}
	if s.MaxAwaiting <= 0 {
		s.MaxAwaiting = defaultMaxAwaiting
	}
	def(&s.LocationUpdateDelay, time.Second)
	if s.StemKeepProbability <= 0 {
		s.StemKeepProbability = StemKeepProbability(s.MaxPeers)
	}
	if s.VerifyBlock == nil {
		s.VerifyBlock = verifyBlock
	}
	return s
}

func verifyBlock(kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	if kt == crypto.SSK {
		return crypto.VerifySSK(rk, block)
	}
	return crypto.VerifyCHK(rk, block)
}

// Router routes one node's requests and inserts. Create it with New, give it its transport
// with Start (the transport delivers to it as its Handler), and Close it when done.
//
// Its state is in parts, each with its own lock, and no code holds two of them at once: the
// peers and this node's location (peers); admission and load (load); the request IDs seen
// and the exchanges waiting for replies (walks); the recently failed keys (failed); darknet
// swaps (swaps); the random source (rng). A walk's own state belongs to its goroutine
// (walk.go). Counters are atomic.
type Router struct {
	cfg        settings
	log        *slog.Logger
	t          transport.Transport
	stemSecret [32]byte // keys the choice of stem peers; immutable
	// retryPause draws the pause before a retry of the node's own request (ownRounds);
	// set by New, replaced by tests before Start.
	retryPause func(round int) time.Duration
	// storeCopies: the store is a CopyingStore, which inserted blocks may be given in the
	// transport's lent buffers (ReceiveLent); immutable.
	storeCopies bool

	ctx    context.Context // ends when the router closes
	cancel context.CancelFunc
	kick   chan struct{} // wakes the location-update loop; capacity 1

	life struct {
		sync.Mutex
		closed bool           // guarded by life
		wg     sync.WaitGroup // the router's goroutines: Add only under life while not closed
	}

	peers struct {
		sync.Mutex
		byID     map[crypto.NodeID]*peer     // guarded by peers, as are each peer's fields
		loc      crypto.Location             // this node's location; guarded by peers
		locDirty bool                        // peers need a LocationUpdate; guarded by peers
		lastDrop time.Time                   // when a peer was last dropped for a newcomer; guarded by peers
		refused  map[crypto.NodeID]time.Time // peers dropped for misbehaving, until when; guarded by peers
		guards   map[crypto.NodeID]bool      // this node's tunnel guards, never dropped for a newcomer; guarded by peers
	}

	load struct {
		sync.Mutex
		active    int                         // requests, inserts and announcements in progress; guarded by load
		byPeer    map[crypto.NodeID]*peerLoad // each linked peer's allowance and work here; guarded by load
		congested time.Time                   // until when this node counts as congested (fair sharing); guarded by load
	}

	walks struct {
		sync.Mutex
		seen    *seenTable             // request IDs handled lately (loops); guarded by walks
		pending map[pendingKey]*waiter // exchanges waiting for replies; guarded by walks
	}

	failed struct {
		sync.Mutex
		table *failTable // recently failed keys (spec §18.6); guarded by failed
	}

	swaps struct {
		sync.Mutex
		byID map[uint64]*swapState // darknet swaps in progress; guarded by swaps
	}

	rng struct {
		sync.Mutex
		r *mrand.Rand // guarded by rng
	}

	counters  counters      // the status page's counters
	completed atomic.Uint64 // walks ended here, for opennet's grace period

	// tunnels is the node's part in tunnels (tunnels.go), nil without an identity. It has
	// locks of its own and is never called with one of the router's held.
	tunnels *tunnel.Tunnels
}

// New makes a router. It does nothing until Start.
func New(cfg Config) *Router {
	s := newSettings(cfg)
	var seed [32]byte
	if cfg.Seed != nil {
		seed = *cfg.Seed
	} else if _, err := rand.Read(seed[:]); err != nil {
		panic("routing: crypto/rand: " + err.Error())
	}
	rng := mrand.New(mrand.NewChaCha8(seed))
	r := &Router{cfg: s, log: s.Logger, kick: make(chan struct{}, 1)}
	r.peers.byID = make(map[crypto.NodeID]*peer)
	r.peers.refused = make(map[crypto.NodeID]time.Time)
	r.load.byPeer = make(map[crypto.NodeID]*peerLoad)
	r.walks.seen = newSeenTable(200_000, 2*s.RequestTimeout)
	r.walks.pending = make(map[pendingKey]*waiter)
	r.failed.table = newFailTable(20_000, 30*time.Second, 10*time.Minute)
	r.swaps.byID = make(map[uint64]*swapState)
	r.rng.r = rng
	r.retryPause = r.drawRetryPause
	_, r.storeCopies = cfg.Store.(CopyingStore)
	for i := range r.stemSecret {
		r.stemSecret[i] = byte(rng.Uint32())
	}
	r.peers.loc = cfg.Location
	if r.peers.loc == 0 || !r.peers.loc.Valid() {
		r.peers.loc = crypto.Location(rng.Float64())
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.newTunnels(seed)
	return r
}

// Start hands the router its transport and starts its background work. The transport must
// deliver its events to the router (it is the transport's Handler).
func (r *Router) Start(t transport.Transport) {
	r.t = t
	r.spawn(r.locationLoop)
	if r.tunnels != nil {
		r.spawn(func() { r.tunnels.Run(r.ctx) })
	}
	if !r.cfg.Opennet && r.cfg.SwapInterval > 0 {
		r.spawn(r.swapLoop)
	}
}

// Close stops the router's work and waits for it. In-progress requests end with ErrClosed.
// It does not close the transport. Close is idempotent.
func (r *Router) Close() error {
	r.life.Lock()
	r.life.closed = true
	r.life.Unlock()
	r.cancel()
	if r.tunnels != nil {
		r.tunnels.Close()
	}
	r.life.wg.Wait()
	return nil
}

// spawn runs f on a goroutine of the router's, which Close waits for, and reports whether it
// did: a closed router starts nothing.
func (r *Router) spawn(f func()) bool {
	r.life.Lock()
	defer r.life.Unlock()
	if r.life.closed {
		return false
	}
	r.life.wg.Add(1)
	go func() {
		defer r.life.wg.Done()
		f()
	}()
	return true
}

// closed reports whether the router has been closed.
func (r *Router) closed() bool {
	r.life.Lock()
	defer r.life.Unlock()
	return r.life.closed
}

// Location is where this node currently sits on the circle.
func (r *Router) Location() crypto.Location {
	r.peers.Lock()
	defer r.peers.Unlock()
	return r.peers.loc
}

func (r *Router) now() time.Time { return r.cfg.Now() }

// newID draws a fresh random request ID and records it as seen, so that the message coming
// back round a loop is refused.
func (r *Router) newID() uint64 {
	for {
		if id := r.randUint64(); id != 0 && r.markSeen(id) {
			return id
		}
	}
}

// markSeen records a request ID as handled here and reports whether it was new.
func (r *Router) markSeen(id uint64) bool {
	r.walks.Lock()
	defer r.walks.Unlock()
	return r.walks.seen.add(id, r.now())
}

// The router's random source; each call takes the lock for one draw.
func (r *Router) randUint64() uint64 {
	r.rng.Lock()
	defer r.rng.Unlock()
	return r.rng.r.Uint64()
}

func (r *Router) randFloat64() float64 {
	r.rng.Lock()
	defer r.rng.Unlock()
	return r.rng.r.Float64()
}

func (r *Router) randIntN(n int) int {
	r.rng.Lock()
	defer r.rng.Unlock()
	return r.rng.r.IntN(n)
}

// send queues m for a peer, waiting at most a short time for room: routing never stalls on
// one slow link. Errors are logged at debug level; the caller's timeouts handle a lost
// message.
func (r *Router) send(to crypto.NodeID, m wire.Message) error {
	return r.sendWithin(to, m, sendWait)
}

// sendWait is how long send waits for room on a link.
const sendWait = 2 * time.Second

// sendReply queues the data that answers a request, waiting for room on the link as long as
// the request may still run here (ctx), and at least sendWait. A link that is slower than
// the blocks coming back over it (a lossy path, a small uplink) fills its queue; dropping the
// reply then would not spare the link, and would leave the requester and every node before it
// waiting out the whole request timeout for an answer that was already here (a stalled
// fetch: 65 s for one block). Waiting is the back-pressure that slows the path instead.
func (r *Router) sendReply(ctx context.Context, to crypto.NodeID, m wire.Message) error {
	wait := sendWait
	if deadline, ok := ctx.Deadline(); ok {
		wait = max(wait, time.Until(deadline))
	}
	return r.sendWithin(to, m, wait)
}

func (r *Router) sendWithin(to crypto.NodeID, m wire.Message, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(r.ctx, wait)
	defer cancel()
	err := r.t.Send(ctx, to, m)
	if err != nil {
		r.log.Debug("send failed", "peer", to, "type", m.Type(), "err", err)
	}
	return err
}

// sendNow sends m from the transport's event goroutine, which must not wait: it is queued at
// once if the link has room, and otherwise handed to a goroutine that waits for room as send
// does. A reply dropped here would leave the peer waiting out its timeout.
func (r *Router) sendNow(to crypto.NodeID, m wire.Message) { r.sendNowWithin(to, m, sendWait) }

// sendNowWithin is sendNow with the goroutine waiting for room up to wait.
func (r *Router) sendNowWithin(to crypto.NodeID, m wire.Message, wait time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := r.t.Send(ctx, to, m)
	if err == nil || !errors.Is(err, transport.ErrQueueFull) {
		return
	}
	m = detach(m)
	r.spawn(func() { r.sendWithin(to, m, wait) })
}

// detach returns m, or a copy of it that shares no bytes with a buffer the transport lent
// only for the call that received it (ReceiveLent): a message sent later, from another
// goroutine, must not read a buffer that has gone back to the transport.
func detach(m wire.Message) wire.Message {
	if c, ok := m.(*wire.TunnelCell); ok {
		d := *c
		d.Body = bytes.Clone(c.Body)
		return &d
	}
	return m
}

// PeerUp implements transport.Handler.
func (r *Router) PeerUp(p transport.Peer) {
	now := r.now()
	pe := &peer{
		id:          p.Ref.ID(),
		loc:         -1, // unknown until its LocationUpdate
		coins:       r.randCoins(),
		connectedAt: now,
		joinedAt:    r.completed.Load(),
		darknet:     !r.cfg.Opennet,
		ref:         p.Ref,
	}
	if loc, ok := p.Ref.Location(); ok && loc.Valid() {
		pe.loc = loc
	}
	r.peers.Lock()
	if r.refusesLocked(pe.id) {
		r.peers.Unlock()
		r.t.Disconnect(pe.id)
		return
	}
	r.peers.byID[pe.id] = pe
	var drop *peer
	if r.cfg.SeedNode && len(r.peers.byID) > r.cfg.MaxPeers {
		// A seed keeps a newcomer beyond its limit for the length of its announcement (or
		// transientTime at most), and neither routes through it nor tells others of it.
		pe.transient = true
	} else if r.cfg.Opennet && len(r.peers.byID) > r.cfg.MaxPeers {
		// A newcomer took a place: the least useful peer past its grace period gives it up,
		// or, if every peer is still in its grace period, the newcomer goes again (links
		// accepted at the same moment can overshoot the limit).
		if drop = r.droppableLocked(); drop == nil {
			drop = pe
		} else {
			r.peers.lastDrop = r.now()
		}
		delete(r.peers.byID, drop.id)
	}
	update := r.locationUpdateLocked()
	if !pe.transient {
		r.peers.locDirty = true // a seed's passing newcomer is not advertised, so changes nothing
	}
	r.peers.Unlock()
	if drop != nil {
		r.t.Disconnect(drop.id)
		if drop == pe {
			return
		}
	}
	r.loadPeerUp(pe.id, now)
	r.sendNow(pe.id, update)
	if r.tunnels != nil && !pe.transient {
		r.tunnels.PeerUp(pe.id)
	}
	if !pe.transient {
		r.kickLocationUpdate()
	}
	r.trace(Event{Kind: EventPeerUp, Peer: pe.id})
}

// randCoins draws a new link's coins (spec §18.2).
func (r *Router) randCoins() linkCoins {
	r.rng.Lock()
	defer r.rng.Unlock()
	return drawCoins(r.rng.r, r.cfg.StemKeepProbability)
}

// PeerDown implements transport.Handler. A peer whose link the transport closed because it
// flooded the link or broke the protocol, which a correct node never does, is refused for
// refuseTime, as one that sent bad blocks is.
func (r *Router) PeerDown(id crypto.NodeID, err error) {
	r.peers.Lock()
	if errors.Is(err, transport.ErrFlood) || errors.Is(err, transport.ErrProtocol) {
		r.peers.refused[id] = r.now().Add(refuseTime)
	}
	if p := r.peers.byID[id]; p != nil && !p.transient {
		r.peers.locDirty = true
	}
	delete(r.peers.byID, id)
	r.peers.Unlock()
	r.loadPeerDown(id)
	// Wake every exchange waiting on this peer: it will not answer now.
	r.walks.Lock()
	for k, w := range r.walks.pending {
		if k.peer == id {
			select {
			case w.end <- &peerGone{}:
			default:
			}
		}
	}
	r.walks.Unlock()
	if r.tunnels != nil {
		r.tunnels.PeerDown(id)
	}
	r.kickLocationUpdate()
	r.trace(Event{Kind: EventPeerDown, Peer: id})
}

// Receive implements transport.Handler. It answers quickly: new requests, inserts and
// announcements get a goroutine of their own, replies go to the exchange waiting for them.
func (r *Router) Receive(from crypto.NodeID, m wire.Message) {
	switch m := m.(type) {
	case *wire.Request:
		if r.admit(from, m.ID) {
			if !r.spawn(func() { r.handleRequest(from, m) }) {
				r.release(from)
			}
		} else {
			// A refused request was still seen: the simulator counts it among what this
			// node could learn.
			r.trace(Event{Kind: EventRefused, Peer: from, ID: m.ID, HTL: m.HTL, Key: m.Key, Timeout: m.Timeout})
		}
	case *wire.Insert:
		r.receiveInsert(from, m, nil)
	case *wire.Announcement:
		if r.cfg.Opennet && r.admit(from, m.ID) && !r.spawn(func() { r.handleAnnouncement(from, m) }) {
			r.release(from)
		}
	case *wire.TunnelKey, *wire.TunnelCreate, *wire.TunnelCell, *wire.TunnelDestroy:
		if r.tunnels == nil {
			return
		}
		if err := r.tunnels.Receive(from, m); err != nil {
			r.refuse(from, r.now())
			r.log.Warn("disconnecting peer: it broke the tunnel protocol", "peer", from, "err", err)
			r.t.Disconnect(from)
		}
	case *wire.LocationUpdate:
		r.peerLocation(from, m)
	case *wire.OfferKey:
		r.handleOffer(from, m)
	case *wire.SwapRequest:
		r.handleSwapRequest(from, m)
	case *wire.SwapReply:
		r.deliverSwapReply(from, m.ID, m)
	case *wire.SwapCommit:
		r.handleSwapCommit(from, m)
	case *wire.RejectedLoop, *wire.RejectedOverload:
		// A swap's refusal goes back along the swap's walk; any other, to its exchange.
		if id := messageID(m); !r.deliverSwapReply(from, id, m) {
			r.deliver(from, id, m)
		}
	default:
		if id, ok := idOf(m); ok {
			r.deliver(from, id, m)
		}
	}
}

// ReceiveLent implements transport.Borrower. An insert's block stays in the buffer the
// transport lends until the insert has ended at this node (handleInsert returns): by then a
// sink's copy is on disk, the store has copied what it keeps for later (CopyingStore), and
// every link the insert went on has its own encoding of it; nothing else refers to the block,
// and the buffer goes back to the transport. A tunnel cell is done with when Receive returns:
// the tunnels handle cells on this goroutine, a relay's cell is encoded by the transport as it
// is sent (or copied first if it must wait for room, sendNowWithin), and what an end or an
// originator opens is decoded into copies. With a store that keeps the slices it is given,
// and for every other message, the buffer is left to the garbage collector.
func (r *Router) ReceiveLent(from crypto.NodeID, m wire.Message, release func()) {
	switch m := m.(type) {
	case *wire.Insert:
		if r.storeCopies {
			r.receiveInsert(from, m, release)
			return
		}
	case *wire.TunnelCell:
		r.Receive(from, m)
		release()
		return
	}
	r.Receive(from, m)
}

// receiveInsert serves an insert from a peer on its own goroutine, if the peer may send one
// more, and calls release (if not nil) when the insert has ended here.
func (r *Router) receiveInsert(from crypto.NodeID, m *wire.Insert, release func()) {
	if !r.admit(from, m.ID) {
		return
	}
	if !r.spawn(func() {
		if release != nil {
			defer release()
		}
		r.handleInsert(from, m)
	}) {
		r.release(from)
	}
}

func (r *Router) trace(e Event) {
	if r.cfg.Trace != nil {
		r.cfg.Trace(e)
	}
}
