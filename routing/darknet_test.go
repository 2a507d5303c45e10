package routing

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"testing/synctest"

	"lethe/crypto"
)

// TestSwappingOrdersFriends: friends linked as a ring lattice (each to the two nodes either
// side), given random locations, swap until friends sit near each other on the circle, so that
// greedy routing works. The measure is the mean log length of the friends' links: about −1.7
// for random locations, −3.9 for the perfect order of 50 nodes.
func TestSwappingOrdersFriends(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 50
		rng := rand.New(rand.NewPCG(7, 7))
		locs := make([]crypto.Location, n)
		for i := range locs {
			locs[i] = crypto.Location(rng.Float64())
		}
		tn := newTestNet(t, locs, func(i int, c *Config) { c.SwapInterval = -1; c.MaxPeers = 4 })
		for i := range n {
			tn.link(i, (i+1)%n)
			tn.link(i, (i+2)%n)
		}
		settle()
		meanLog := func() float64 {
			sum := 0.0
			for i := range n {
				for _, j := range []int{(i + 1) % n, (i + 2) % n} {
					sum += math.Log(tn.nodes[i].r.Location().Distance(tn.nodes[j].r.Location()))
				}
			}
			return sum / (2 * n)
		}
		before := meanLog()
		for range 8000 {
			tn.nodes[rng.IntN(n)].r.Swap(context.Background())
			settle()
		}
		after := meanLog()
		if after > before-0.5 {
			t.Errorf("mean log link length %.2f before swapping, %.2f after: want it at least 0.5 lower", before, after)
		}
		t.Logf("mean log link length %.2f before swapping, %.2f after (perfect order: %.2f)", before, after, math.Log(1.5/n))
	})
}
