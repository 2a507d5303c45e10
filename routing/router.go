package routing

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"time"

	"lethe/crypto"
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

// Config sets up a Router. The zero value of every field but Store works.
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

	// RequestTimeout is how long a request may search, default 60 s; AcceptTimeout how long a
	// peer has to accept a request before the next one is tried, default 5 s.
	RequestTimeout time.Duration
	AcceptTimeout  time.Duration
	// PeerRate and PeerBurst limit the requests and inserts a peer may start per second,
	// default 1000 and 2000; MaxActive limits those in progress at once, default 4000.
	// Past either, a peer is answered RejectedOverload.
	PeerRate, PeerBurst float64
	MaxActive           int
	// MaxAwaiting is how many requests and inserts may wait for one peer's Accepted at
	// once, default 8; past it the peer is not chosen until it answers (spec §18.5). The
	// simulator, whose nodes are slow rather than silent, raises it.
	MaxAwaiting int
	// LocationUpdateDelay is how long location changes are gathered before peers are told,
	// default 1 s; negative means at once (the simulator).
	LocationUpdateDelay time.Duration
	// StemKeepProbability overrides the chance that a link keeps HTL 18 (spec §18.2); zero
	// means StemKeepProbability(MaxPeers). The simulator sets 0.5, Freenet's rule, to compare.
	StemKeepProbability float64
	// SwapInterval is how often a darknet node starts a location swap, default 10 s;
	// negative means never on its own (the simulator calls Swap).
	SwapInterval time.Duration

	// Seed makes the router's random choices repeatable (tests, simulation). Nil draws a
	// seed from crypto/rand.
	Seed *[32]byte
	// Now is the clock, default time.Now.
	Now func() time.Time
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// Trace, if set, is called for every routing event (the simulator's measurements). It
	// runs synchronously on routing goroutines and must be quick.
	Trace func(Event)
	// VerifyBlock checks a block against its routing key, default crypto.VerifyCHK or
	// crypto.VerifySSK. The simulator may set a cheaper check of its own blocks.
	VerifyBlock func(kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error
}

func (c *Config) setDefaults() {
	if c.MaxPeers <= 0 {
		c.MaxPeers = 20
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 60 * time.Second
	}
	if c.AcceptTimeout <= 0 {
		c.AcceptTimeout = 5 * time.Second
	}
	if c.PeerRate <= 0 {
		c.PeerRate = 1000
	}
	if c.PeerBurst <= 0 {
		c.PeerBurst = 2000
	}
	if c.MaxActive <= 0 {
		c.MaxActive = 4000
	}
	if c.MaxAwaiting <= 0 {
		c.MaxAwaiting = defaultMaxAwaiting
	}
	if c.LocationUpdateDelay == 0 {
		c.LocationUpdateDelay = time.Second
	}
	if c.StemKeepProbability <= 0 {
		c.StemKeepProbability = StemKeepProbability(c.MaxPeers)
	}
	if c.SwapInterval == 0 {
		c.SwapInterval = swapInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.VerifyBlock == nil {
		c.VerifyBlock = verifyBlock
	}
}

func verifyBlock(kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	if kt == crypto.SSK {
		return crypto.VerifySSK(rk, block)
	}
	return crypto.VerifyCHK(rk, block)
}

// Router routes one node's requests and inserts. Create it with New, give it its transport
// with Start (the transport delivers to it as its Handler), and Close it when done.
type Router struct {
	cfg Config
	log *slog.Logger
	t   transport.Transport

	ctx    context.Context // ends when the router closes
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{} // wakes the location-update loop; capacity 1

	mu         sync.Mutex
	loc        crypto.Location             // guarded by mu
	peers      map[crypto.NodeID]*peer     // guarded by mu
	seen       *seenTable                  // guarded by mu
	failed     *failTable                  // guarded by mu
	pending    map[pendingKey]*waiter      // guarded by mu
	rng        *mrand.Rand                 // guarded by mu
	active     int                         // requests and inserts in progress; guarded by mu
	stemSecret [32]byte                    // keys the choice of stem peers; immutable
	locDirty   bool                        // peers need a LocationUpdate; guarded by mu
	completed  uint64                      // requests completed, for opennet grace; guarded by mu
	lastDrop   time.Time                   // when a peer was last dropped for a newcomer; guarded by mu
	congested  time.Time                   // until when this node counts as congested (fair sharing); guarded by mu
	stats      Stats                       // guarded by mu
	swaps      map[uint64]*swapState       // darknet swaps in progress; guarded by mu
	transient  map[crypto.NodeID]bool      // seed: newcomers linked only for their announcement; guarded by mu
	refused    map[crypto.NodeID]time.Time // peers dropped for bad blocks, until when; guarded by mu
	closed     bool                        // guarded by mu

	// retryPause draws the pause before a retry of the node's own request (ownRounds); tests
	// replace it.
	retryPause func(round int) time.Duration
}

// New makes a router. It does nothing until Start.
func New(cfg Config) *Router {
	cfg.setDefaults()
	var seed [32]byte
	if cfg.Seed != nil {
		seed = *cfg.Seed
	} else if _, err := rand.Read(seed[:]); err != nil {
		panic("routing: crypto/rand: " + err.Error())
	}
	rng := mrand.New(mrand.NewChaCha8(seed))
	r := &Router{
		cfg:     cfg,
		log:     cfg.Logger,
		kick:    make(chan struct{}, 1),
		peers:   make(map[crypto.NodeID]*peer),
		refused: make(map[crypto.NodeID]time.Time),
		seen:    newSeenTable(200_000, 2*cfg.RequestTimeout),
		failed:  newFailTable(20_000, 30*time.Second, 10*time.Minute),
		pending: make(map[pendingKey]*waiter),
		rng:     rng,
		swaps:   make(map[uint64]*swapState),
	}
	r.retryPause = r.drawRetryPause
	for i := range r.stemSecret {
		r.stemSecret[i] = byte(rng.Uint32())
	}
	r.loc = cfg.Location
	if r.loc == 0 || !r.loc.Valid() {
		r.loc = crypto.Location(rng.Float64())
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r
}

// Start hands the router its transport and starts its background work. The transport must
// deliver its events to the router (it is the transport's Handler).
func (r *Router) Start(t transport.Transport) {
	r.t = t
	r.wg.Add(1)
	go r.locationLoop()
	if !r.cfg.Opennet && r.cfg.SwapInterval > 0 {
		r.wg.Add(1)
		go r.swapLoop()
	}
}

// Close stops the router's work and waits for it. In-progress requests end with ErrClosed.
// It does not close the transport. Close is idempotent.
func (r *Router) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	return nil
}

// Location is where this node currently sits on the circle.
func (r *Router) Location() crypto.Location {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loc
}

func (r *Router) now() time.Time { return r.cfg.Now() }

// newIDLocked draws a fresh random ID for a message this node starts, and marks it seen, so
// that the message is refused as a loop if it comes back. Callers hold mu.
func (r *Router) newIDLocked() uint64 {
	for {
		if id := r.rng.Uint64(); id != 0 {
			r.seen.add(id, r.now())
			return id
		}
	}
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
func (r *Router) sendNow(to crypto.NodeID, m wire.Message) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := r.t.Send(ctx, to, m)
	if err == nil || !errors.Is(err, transport.ErrQueueFull) {
		return
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		r.send(to, m)
	}()
}

// PeerUp implements transport.Handler.
func (r *Router) PeerUp(p transport.Peer) {
	now := r.now()
	r.mu.Lock()
	if r.refusesLocked(p.Ref.ID()) {
		r.mu.Unlock()
		r.t.Disconnect(p.Ref.ID())
		return
	}
	pe := &peer{
		id:          p.Ref.ID(),
		loc:         -1, // unknown until its LocationUpdate
		coins:       drawCoins(r.rng, r.cfg.StemKeepProbability),
		connectedAt: now,
		joinedAt:    r.completed,
		darknet:     !r.cfg.Opennet,
		ref:         p.Ref,
		bucket:      newTokenBucket(r.cfg.PeerRate, r.cfg.PeerBurst, now),
		refusals:    newTokenBucket(refusalRate, refusalBurst, now),
	}
	if loc, ok := p.Ref.Location(); ok && loc.Valid() {
		pe.loc = loc
	}
	r.peers[pe.id] = pe
	var drop *peer
	if r.cfg.SeedNode && len(r.peers) > r.cfg.MaxPeers {
		// A seed keeps a newcomer beyond its limit for the length of its announcement (or
		// transientTime at most), and neither routes through it nor tells others of it.
		pe.transient = true
	} else if r.cfg.Opennet && len(r.peers) > r.cfg.MaxPeers {
		// A newcomer took a place: the least useful peer past its grace period gives it up,
		// or, if every peer is still in its grace period, the newcomer goes again (links
		// accepted at the same moment can overshoot the limit).
		if drop = r.droppableLocked(); drop == nil {
			drop = pe
		} else {
			r.lastDrop = r.now()
		}
		delete(r.peers, drop.id)
	}
	update := r.locationUpdateLocked()
	if !pe.transient {
		r.locDirty = true // a seed's passing newcomer is not advertised, so changes nothing
	}
	r.mu.Unlock()
	if drop != nil {
		r.t.Disconnect(drop.id)
		if drop == pe {
			return
		}
	}
	r.sendNow(pe.id, update)
	if !pe.transient {
		r.kickLocationUpdate()
	}
	r.trace(Event{Kind: EventPeerUp, Peer: pe.id})
}

// PeerDown implements transport.Handler. A peer whose link the transport closed because it
// flooded the link or broke the protocol, which a correct node never does, is refused for
// refuseTime, as one that sent bad blocks is.
func (r *Router) PeerDown(id crypto.NodeID, err error) {
	r.mu.Lock()
	if errors.Is(err, transport.ErrFlood) || errors.Is(err, transport.ErrProtocol) {
		r.refused[id] = r.now().Add(refuseTime)
	}
	if p := r.peers[id]; p != nil && !p.transient {
		r.locDirty = true
	}
	delete(r.peers, id)
	// Wake every request waiting on this peer: it will not answer now.
	for k, w := range r.pending {
		if k.peer == id {
			select {
			case w.end <- &peerGone{}:
			default:
			}
		}
	}
	r.mu.Unlock()
	r.kickLocationUpdate()
	r.trace(Event{Kind: EventPeerDown, Peer: id})
}

// Receive implements transport.Handler. It answers quickly: new requests and inserts get a
// goroutine of their own, replies go to the request waiting for them.
func (r *Router) Receive(from crypto.NodeID, m wire.Message) {
	switch m := m.(type) {
	case *wire.Request:
		if r.admit(from, m.ID) {
			r.wg.Add(1)
			go r.handleRequest(from, m)
		} else {
			// A refused request was still seen: the simulator counts it among what this
			// node could learn.
			r.trace(Event{Kind: EventRefused, Peer: from, ID: m.ID, HTL: m.HTL, Key: m.Key, Timeout: m.Timeout})
		}
	case *wire.Insert:
		if r.admit(from, m.ID) {
			r.wg.Add(1)
			go r.handleInsert(from, m)
		}
	case *wire.Announcement:
		if r.cfg.Opennet && r.admit(from, m.ID) {
			r.wg.Add(1)
			go r.handleAnnouncement(from, m)
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
		// A swap's refusal goes back along the swap's walk; any other, to its request.
		if id := messageID(m); !r.deliverSwapReply(from, id, m) {
			r.deliver(from, id, m)
		}
	default:
		if id, ok := idOf(m); ok {
			r.deliver(from, id, m)
		}
	}
}

// admit decides whether to take a new request, insert or announcement from a peer: a loop
// (an ID this node has seen) gets RejectedLoop, a peer over its rate or a node at its limit
// RejectedOverload. The checks come before any block is verified or any state allocated.
// Whether this node's user is fetching or inserting the same key makes no difference: the
// user's own request that comes back under another ID is relayed as any other, or a peer
// could ask for a key and learn from a refusal that the user is fetching it (spec §18.5).
func (r *Router) admit(from crypto.NodeID, id uint64) bool {
	now := r.now()
	r.mu.Lock()
	p := r.peers[from]
	switch {
	case p == nil || r.closed:
		r.mu.Unlock()
		return false
	case !r.seen.add(id, now):
		r.stats.RejectedLoop++
		r.mu.Unlock()
		r.sendNow(from, &wire.RejectedLoop{ID: id})
		return false
	case r.active >= r.cfg.MaxActive || p.active >= r.peerShareLocked() || !p.bucket.take(now) || r.overShareLocked(p, now):
		r.stats.RejectedOverload++
		flooding := !p.refusals.take(now)
		if flooding {
			r.refused[from] = now.Add(refuseTime)
		}
		r.mu.Unlock()
		if flooding {
			r.log.Warn("disconnecting peer: it keeps sending requests after RejectedOverload", "peer", from)
			r.t.Disconnect(from)
			return false
		}
		r.sendNow(from, &wire.RejectedOverload{ID: id})
		return false
	}
	r.active++
	p.active++
	r.mu.Unlock()
	return true
}

// Fair sharing (spec §18.5).
const (
	// refusalRate and refusalBurst bound the requests a peer may send that are refused for
	// overload. A node backs a peer off after RejectedOverload (0.5 s at first), so an
	// honest peer sends only what it already had on the way, a window or two; a peer that
	// goes on sending at full speed past the refusals is flooding, and is disconnected and
	// refused for refuseTime, as one that sends bad blocks is.
	refusalRate  = 200
	refusalBurst = 2000

	// fairShare is how many requests and inserts a peer may always have in progress here,
	// busy or not: half of a download's window.
	fairShare = 16
	// congestionTime is how long a node counts as congested after one of its peers
	// answered it RejectedOverload.
	congestionTime = 2 * time.Second
)

// peerShareLocked is how many requests, inserts and announcements one peer may have in
// progress here at once: an eighth of MaxActive split evenly among the peers, and never less
// than a download's window (2·fairShare), which a stem carries whole from node to node. The
// limit counts work in progress, not work started: a peer's requests that end quickly make
// room for more at once, while one whose requests linger (a flood of keys nobody has, each
// walking its whole HTL) is held to its part of the node. Without it a peer could fill
// MaxActive in one burst before the node saw any sign of congestion, and every request so
// admitted is forwarded, so the burst would be multiplied along each path: what a flooder's
// neighbours let in, the whole network carries, about HTL times over.
func (r *Router) peerShareLocked() int {
	return max(2*fairShare, r.cfg.MaxActive/(8*max(1, len(r.peers))))
}

// overShareLocked reports whether p must be refused to keep the node fair: while the node is
// congested (a peer refused its requests for overload lately, or half of MaxActive is in
// use), a peer that has more requests in progress here than fairShare and than any other
// peer gets RejectedOverload. A peer that floods its neighbours would otherwise take their
// whole allowance at their own peers, since the work a node forwards is charged there to the
// node, not to whoever sent it; with this rule the flooder is held to what the busiest honest
// peer gets, and honest peers are not held at all.
func (r *Router) overShareLocked(p *peer, now time.Time) bool {
	if p.active < fairShare || now.After(r.congested) && r.active < r.cfg.MaxActive/2 {
		return false
	}
	for _, o := range r.peers {
		if o != p && o.active >= p.active {
			return false
		}
	}
	return true
}

// release ends the work admit allowed for a request or insert from peer from (the zero ID
// for work of the node's own).
func (r *Router) release(from crypto.NodeID) {
	r.mu.Lock()
	r.active--
	if p := r.peers[from]; p != nil && p.active > 0 {
		p.active--
	}
	r.mu.Unlock()
}

func (r *Router) trace(e Event) {
	if r.cfg.Trace != nil {
		r.cfg.Trace(e)
	}
}
