package main

import (
	"sync"

	"lethe/crypto"
	"lethe/routing"
)

// linkCounter counts, from the routing events of every node of the bench's network, the
// inserts and requests that reached a node (each one crossed a link to get there), the
// distinct blocks they were for, and the copies of inserted blocks the nodes kept.
type linkCounter struct {
	mu     sync.Mutex
	arrive int                            // inserts and requests that reached a node; guarded by mu
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
	default:
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keys == nil {
		l.keys = make(map[crypto.RoutingKey]struct{})
	}
	l.arrive++
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
