package sim

import (
	"lethe/wire"
	"sync"
	"time"

	"lethe/crypto"
	"lethe/routing"
)

// tracer gathers the routers' trace events into what the simulator measures: the path each
// request took (to count its hops) and, for every request arrival, whether the sender was the
// originator (the anonymity measurement). It is shared by all nodes.
type tracer struct {
	mu      sync.Mutex
	index   map[crypto.NodeID]int // node ID → node index; written before any event
	origin  map[uint64]int        // root request ID → originating node
	byStart map[startKey]uint64   // (node, key) → the root ID of that node's request for key
	alias   map[uint64]uint64     // an ID the search continued under → the ID before it
	parent  map[arrival]hop       // (ID, node) → the node it arrived from, and at what HTL
	found   map[uint64]arrival    // root ID → (ID, node) where the block was found
	// tunnels maps (node, key) to the hops of the tunnel that node's own request for key
	// went into, guard first; tunnelOrigin maps (end, key) to the node whose tunnel ends
	// there, so that the walk leaving the end is counted as that node's request.
	tunnels      map[startKey][]int
	tunnelOrigin map[startKey]int

	// measuring turns the per-arrival anonymity counts on.
	measuring bool
	byHTL     [wire.MaxHTL + 1]htlCount
	byTimeout [maxTimeoutHops + 1]htlCount // by the hops the request's timeout implies (timeoutHops)

	// files maps the blocks of the downloads in progress to their download, whose sightings
	// the tracer records (the volume test); seq orders all sightings in time.
	files map[crypto.RoutingKey]fileBlock
	seq   uint64
}

type fileBlock struct {
	d     *download
	block int32
}

type startKey struct {
	node int
	key  crypto.RoutingKey
}

type arrival struct {
	id   uint64
	node int
}

type hop struct {
	from int
	htl  uint8
}

type htlCount struct {
	arrivals, fromOriginator int
}

func newTracer() *tracer {
	t := &tracer{index: map[crypto.NodeID]int{}, files: map[crypto.RoutingKey]fileBlock{}}
	t.reset()
	return t
}

// reset forgets the paths of earlier requests (the anonymity counts stay).
func (t *tracer) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.origin = map[uint64]int{}
	t.byStart = map[startKey]uint64{}
	t.alias = map[uint64]uint64{}
	t.parent = map[arrival]hop{}
	t.found = map[uint64]arrival{}
	t.tunnels = map[startKey][]int{}
	t.tunnelOrigin = map[startKey]int{}
}

func (t *tracer) setMeasuring(on bool) {
	t.mu.Lock()
	t.measuring = on
	t.mu.Unlock()
}

// root follows an ID back through stem exits to the ID its originator chose. Callers hold mu.
func (t *tracer) rootLocked(id uint64) uint64 {
	for {
		prev, ok := t.alias[id]
		if !ok {
			return id
		}
		id = prev
	}
}

// event is the Trace hook of node n.
func (t *tracer) event(n int, e routing.Event) {
	switch e.Kind {
	case routing.EventOriginate, routing.EventStemExit, routing.EventRequest, routing.EventRefused, routing.EventFound,
		routing.EventTunnelRequest, routing.EventTunnelExit:
	default:
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e.Kind == routing.EventRequest || e.Kind == routing.EventRefused {
		t.sightLocked(n, e)
	}
	switch e.Kind {
	case routing.EventTunnelRequest:
		hops := make([]int, len(e.Hops))
		for i, h := range e.Hops {
			hops[i] = t.index[h]
		}
		t.tunnels[startKey{n, e.Key}] = hops
		t.tunnelOrigin[startKey{hops[len(hops)-1], e.Key}] = n
		if fb, ok := t.files[e.Key]; ok && fb.d.from == n {
			u := tunnelUse{block: fb.block}
			for _, h := range hops {
				u.hops = append(u.hops, int32(h))
			}
			fb.d.tunnelUses = append(fb.d.tunnelUses, u)
		}
	case routing.EventTunnelExit:
		// The walk that leaves a tunnel's end is its originator's request.
		if o, ok := t.tunnelOrigin[startKey{n, e.Key}]; ok {
			t.origin[e.ID] = o
		}
		t.byStart[startKey{n, e.Key}] = e.ID
	case routing.EventOriginate:
		t.origin[e.ID] = n
		t.byStart[startKey{n, e.Key}] = e.ID
	case routing.EventStemExit:
		t.alias[e.Next] = e.ID
	case routing.EventRequest:
		from, ok := t.index[e.Peer]
		if !ok {
			return
		}
		t.parent[arrival{e.ID, n}] = hop{from, e.HTL}
		if t.measuring {
			orig, ok := t.origin[t.rootLocked(e.ID)]
			if ok && int(e.HTL) < len(t.byHTL) {
				for _, c := range []*htlCount{&t.byHTL[e.HTL], &t.byTimeout[timeoutHops(e.Timeout)]} {
					c.arrivals++
					if orig == from {
						c.fromOriginator++
					}
				}
			}
		}
	case routing.EventFound:
		root := t.rootLocked(e.ID)
		if _, ok := t.found[root]; !ok {
			t.found[root] = arrival{e.ID, n}
		}
	}
}

// path reports the hops of node n's successful request for key: those of the stem (under
// the originator's ID, and the link at HTL 17 where the stem ended) and those of the search
// after it, up to the node that had the block. ok is false if the path cannot be traced (the
// block was in the originator's own store: zero hops).
//
// For a request that went into a tunnel, stem is the tunnel's links and after is the walk
// from the tunnel's end, which starts under an ID of its own.
func (t *tracer) path(n int, key crypto.RoutingKey) (stem, after int, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if hops, ok := t.tunnels[startKey{n, key}]; ok {
		st, after, ok := t.pathLocked(hops[len(hops)-1], key)
		return len(hops), st + after, ok
	}
	return t.pathLocked(n, key)
}

func (t *tracer) pathLocked(n int, key crypto.RoutingKey) (stem, after int, ok bool) {
	root, ok := t.byStart[startKey{n, key}]
	if !ok {
		return 0, 0, false
	}
	at, ok := t.found[root]
	if !ok {
		return 0, 0, false
	}
	for steps := 0; steps < 1000; steps++ {
		if h, ok := t.parent[at]; ok {
			_, fromHadIt := t.parent[arrival{at.id, h.from}]
			switch {
			case at.id == root:
				stem++
			case !fromHadIt && h.htl == wire.MaxHTL-1:
				stem++ // the stem's last link: to a peer the stem chose, not the search
			default:
				after++
			}
			at.node = h.from
			continue
		}
		if at.id == root {
			return stem, after, at.node == n
		}
		prev, ok := t.alias[at.id]
		if !ok {
			return stem, after, false
		}
		at.id = prev
	}
	return stem, after, false
}

// follow makes the tracer record every arrival of a request for one of d's blocks, until
// unfollow.
func (t *tracer) follow(d *download) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, k := range d.keys {
		t.files[k] = fileBlock{d, int32(i)}
	}
}

func (t *tracer) unfollow(d *download) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range d.keys {
		delete(t.files, k)
	}
}

// sightLocked records, for the volume test, that node n received (or refused) request e.
func (t *tracer) sightLocked(n int, e routing.Event) {
	fb, ok := t.files[e.Key]
	if !ok {
		return
	}
	from, ok := t.index[e.Peer]
	if !ok {
		return
	}
	t.seq++
	fb.d.sightings = append(fb.d.sightings, sighting{seq: t.seq, at: int32(n), from: int32(from), block: fb.block, htl: e.HTL})
}

// maxTimeoutHops is the last class of timeoutHops: that many hops or more.
const maxTimeoutHops = 20

// timeoutHops is the number of hops a request that arrived with timeout has made since its
// originator, as a node that knows the default RequestTimeout reads it: each hop passes on
// what it was given less timeoutStep, so the originator's own request arrives with
// requestTimeout less one step, the next hop's with less two, and so on.
func timeoutHops(timeout time.Duration) int {
	k := int((requestTimeout - timeout + timeoutStep/2) / timeoutStep)
	return max(0, min(k, maxTimeoutHops))
}
