package routing

import (
	"context"
	"testing"
	"testing/synctest"

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
