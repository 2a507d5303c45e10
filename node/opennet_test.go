package node

import (
	"testing"
	"time"

	"lethe/wire"
)

// TestOpennetJoinsThroughSeed: opennet nodes that know only a seed node announce themselves
// through it and find each other; a stranger is taken as a peer without being a friend.
func TestOpennetJoinsThroughSeed(t *testing.T) {
	seed := runNode(t, t.TempDir(), func(c *Config) { c.Opennet, c.SeedNode, c.MaxPeers = true, true, 4 })
	var nodes []*Node
	for range 3 {
		nodes = append(nodes, runNode(t, t.TempDir(), func(c *Config) {
			c.Opennet, c.MaxPeers, c.Seeds = true, 4, []*wire.NodeRef{seed.Ref()}
		}))
	}
	if _, ok := seed.Ref().Location(); ok {
		t.Error("an opennet node's noderef carries its location")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		linked := 0
		for _, n := range nodes {
			for _, p := range n.Status().Peers {
				if p.ID != seed.ID().String() && !p.Friend {
					linked++
					break
				}
			}
		}
		if linked == len(nodes) {
			return
		}
		if time.Now().After(deadline) {
			for i, n := range nodes {
				t.Logf("node %d peers: %+v", i, n.Status().Peers)
			}
			t.Fatalf("%d of %d opennet nodes found a peer other than the seed", linked, len(nodes))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
