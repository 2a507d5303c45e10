package routing

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// TestAnnouncement: a newcomer linked only to a seed announces itself through it; nodes along
// the way towards its location that want peers offer themselves, and it links to them.
func TestAnnouncement(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 0 is the seed; 1–4 a line going towards 0.5; 5 the newcomer at 0.5.
		locs := []crypto.Location{0.1, 0.2, 0.3, 0.4, 0.45, 0.5}
		var tn *testNet
		tn = newTestNet(t, locs, func(i int, c *Config) {
			c.Opennet = true
			c.MaxPeers = 8
			c.SeedNode = i == 0
		})
		for i := 0; i < 4; i++ {
			tn.link(i, i+1)
		}
		settle()
		newcomer := tn.nodes[5]
		newcomer.r.cfg.Seeds = []*wire.NodeRef{tn.nodes[0].ref}
		newcomer.r.Maintain(context.Background())
		settle()
		got := map[crypto.NodeID]bool{}
		for _, p := range newcomer.r.Peers() {
			got[p.ID] = true
		}
		for i := 1; i <= 4; i++ {
			if !got[tn.nodes[i].id()] {
				t.Errorf("node %d (location %v), on the announcement's way and wanting peers, did not link to the newcomer", i, locs[i])
			}
		}
		// The seed had room, so it may keep the newcomer as an ordinary peer.
	})
}

// TestRingNeighboursKept: a full opennet node making room for a newcomer drops the peer idle
// longest, except its two nearest peers on each side of its location, which keep greedy
// routing able to reach the nodes next to it even when they answer nothing.
func TestRingNeighboursKept(t *testing.T) {
	r := New(Config{Store: NewMemStore(0.5, 10, 10), Location: 0.5, Opennet: true, MaxPeers: 8})
	defer r.Close()
	old := r.now().Add(-time.Hour)
	// Nearest first on each side: 0.51, 0.52 clockwise, 0.49, 0.47 counter-clockwise. The
	// nearer a peer, the longer it has been idle, and the far ones less so, so that the drop
	// rule alone would take the ring neighbours first.
	locs := []crypto.Location{0.51, 0.49, 0.52, 0.47, 0.7, 0.2, 0.9, 0.05}
	r.peers.Lock()
	for i, l := range locs {
		id := crypto.NodeID{byte(i + 1)}
		r.peers.byID[id] = &peer{id: id, loc: l, connectedAt: old, lastSuccess: old.Add(time.Duration(i) * time.Minute)}
	}
	var dropped []crypto.Location
	for range 4 {
		p := r.droppableLocked()
		if p == nil {
			t.Fatal("no peer to drop among eight idle ones")
		}
		dropped = append(dropped, p.loc)
		delete(r.peers.byID, p.id)
		r.peers.lastDrop = time.Time{}
	}
	r.peers.Unlock()
	want := []crypto.Location{0.7, 0.2, 0.9, 0.05}
	if !slices.Equal(dropped, want) {
		t.Errorf("dropped %v in turn, want %v: the two nearest peers on each side are kept", dropped, want)
	}
}
