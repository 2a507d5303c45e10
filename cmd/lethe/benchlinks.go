package main

import (
	"sync"

	"lethe/crypto"
	"lethe/routing"
)

// linkCounter counts, from the routing events of every node of the bench's network, the
// links the blocks crossed (each insert and request that reached a node crossed a link to get
// there, and each that went into a tunnel crossed its links: the request or insert there, the
// block back or on the same way), the distinct blocks they were for, and the copies of
// inserted blocks the nodes kept.
type linkCounter struct {
	mu     sync.Mutex
	arrive int                            // links crossed; guarded by mu
	stored int                            // copies kept long-term, by sinks and their tails; guarded by mu
	cached int                            // copies kept in caches; guarded by mu
	keys   map[crypto.RoutingKey]struct{} // the blocks they were for; guarded by mu
}

// linkCount is what a linkCounter counted over one phase.
type linkCount struct {
	arrivals, blocks int
	stored, cached   int // copies kept: long-term (sinks and tails), in caches
}

// perBlock is the links each block crossed on average; 0 if no block was counted.
func (c linkCount) perBlock() float64 {
	if c.blocks == 0 {
		return 0
	}
	return float64(c.arrivals) / float64(c.blocks)
}

// event is the nodes' routing.Config.Trace.
func (l *linkCounter) event(e routing.Event) {
	links := 1
	switch e.Kind {
	case routing.EventStored:
		l.mu.Lock()
		l.stored++
		l.mu.Unlock()
		return
	case routing.EventCached:
		l.mu.Lock()
		l.cached++
		l.mu.Unlock()
		return
	case routing.EventInsert, routing.EventRequest:
	case routing.EventTunnelRequest:
		links = len(e.Hops)
	default:
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keys == nil {
		l.keys = make(map[crypto.RoutingKey]struct{})
	}
	l.arrive += links
	l.keys[e.Key] = struct{}{}
}

func (l *linkCounter) reset() { l.take() }

// take returns what was counted since the last take and starts again.
func (l *linkCounter) take() linkCount {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := linkCount{arrivals: l.arrive, blocks: len(l.keys), stored: l.stored, cached: l.cached}
	l.arrive, l.keys, l.stored, l.cached = 0, nil, 0, 0
	return c
}
