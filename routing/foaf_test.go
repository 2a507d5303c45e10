package routing

import (
	"slices"
	"testing"
	"testing/synctest"

	"lethe/crypto"
)

// TestFOAFLocations: each node learns its peers' locations and their peers' locations, not
// its own.
func TestFOAFLocations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 0 - 1 - 2, 1 - 3: node 0 sees peer 1 with neighbours 2 and 3.
		tn := newTestNet(t, []crypto.Location{0.1, 0.2, 0.3, 0.4}, nil)
		tn.link(0, 1)
		tn.link(1, 2)
		tn.link(1, 3)
		settle()
		r := tn.nodes[0].r
		r.peers.Lock()
		defer r.peers.Unlock()
		p := r.peers.byID[tn.nodes[1].id()]
		if p == nil || p.loc != 0.2 {
			t.Fatalf("node 0 does not know peer 1 at 0.2: %+v", p)
		}
		got := slices.Clone(p.foaf)
		slices.Sort(got)
		if !slices.Equal(got, []crypto.Location{0.3, 0.4}) {
			t.Errorf("node 0's view of peer 1's neighbours: %v, want [0.3 0.4]", got)
		}
	})
}
