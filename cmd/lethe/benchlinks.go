package main

import (
	"sync"

	"lethe/crypto"
	"lethe/routing"
)

// linkCounter counts, from the routing events of every node of the bench's network, the
// inserts and requests that reached a node (each one crossed a link to get there) and the
// distinct blocks they were for.
type linkCounter struct {
	mu     sync.Mutex
	arrive int                            // inserts and requests that reached a node; guarded by mu
	keys   map[crypto.RoutingKey]struct{} // the blocks they were for; guarded by mu
}

// linkCount is what a linkCounter counted over one phase.
type linkCount struct {
	arrivals, blocks int
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
	if e.Kind != routing.EventInsert && e.Kind != routing.EventRequest {
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
	c := linkCount{arrivals: l.arrive, blocks: len(l.keys)}
	l.arrive, l.keys = 0, nil
	return c
}
