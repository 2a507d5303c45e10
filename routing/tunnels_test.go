package routing

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"

	"lethe/crypto"
)

// TestOwnRequestsThroughTunnels: with identities, a node's own insert and request travel
// through tunnels: the node never sends its own key to a peer, a tunnel of three hops carries
// it, and the walk starts at the tunnel's end, which the insert and the request both reach.
func TestOwnRequestsThroughTunnels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var events []tracedEvent
		const n = 24
		tn := newTestNet(t, spread(n, 0.01), func(i int, c *Config) {
			c.Identity = crypto.NewNodeIdentity(sha256.Sum256([]byte(fmt.Sprintf("test node %d", i))))
			c.OwnTunnels = true
			c.Trace = func(e Event) {
				mu.Lock()
				events = append(events, tracedEvent{i, e})
				mu.Unlock()
			}
		})
		for i := range n { // a ring with chords: every node has four to six peers
			tn.link(i, (i+1)%n)
			tn.link(i, (i+5)%n)
		}
		settle()
		block, key := chkBlock(t, 0.5, 0.02)
		if err := tn.nodes[3].r.PutBlock(context.Background(), crypto.CHK, key.Routing, block); err != nil {
			t.Fatal(err)
		}
		// The getter is a node that does not hold the block: the end of the insert's tunnel
		// caches it, and a node holding it would answer its user from its own store.
		getter := 17
		for ; ; getter = (getter + 1) % n {
			if _, held := tn.nodes[getter].r.cfg.Store.Get(crypto.CHK, key.Routing); !held && getter != 3 {
				break
			}
		}
		got, err := tn.nodes[getter].r.GetBlock(context.Background(), crypto.CHK, key.Routing)
		if err != nil || !bytes.Equal(got, block) {
			t.Fatalf("GetBlock: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		index := map[crypto.NodeID]int{}
		for i, nd := range tn.nodes {
			index[nd.id()] = i
		}
		// The walks each node carries for others, by their IDs: those that came out of a
		// tunnel it ended and those that reached it from a peer. A node may end another's
		// tunnel for the same key, or relay the search for it, and those walks it sends on in
		// the clear as any node does.
		forOthers := map[int]map[uint64]bool{}
		for _, te := range events {
			switch te.e.Kind {
			case EventTunnelExit, EventRequest, EventInsert:
				if forOthers[te.node] == nil {
					forOthers[te.node] = map[uint64]bool{}
				}
				forOthers[te.node][te.e.ID] = true
			}
		}
		for _, who := range []int{3, getter} {
			var tunnels [][]crypto.NodeID
			exits := map[int]bool{}
			for _, te := range events {
				e := te.e
				if e.Key != key.Routing {
					continue
				}
				switch {
				case (e.Kind == EventRequest || e.Kind == EventInsert) && index[e.Peer] == who && !forOthers[who][e.ID]:
					t.Errorf("node %d sent its own key to its peer %d in the clear", who, te.node)
				case e.Kind == EventTunnelRequest && te.node == who:
					tunnels = append(tunnels, e.Hops)
				case e.Kind == EventTunnelExit:
					exits[te.node] = true
				}
			}
			if len(tunnels) == 0 {
				t.Fatalf("node %d sent nothing into a tunnel", who)
			}
			for _, hops := range tunnels {
				if len(hops) != 3 {
					t.Errorf("node %d's tunnel has %d hops, want 3", who, len(hops))
				}
				if end := index[hops[len(hops)-1]]; !exits[end] {
					t.Errorf("node %d's tunnel ends at %d, where nothing came out", who, end)
				}
			}
		}
	})
}

type tracedEvent struct {
	node int
	e    Event
}
