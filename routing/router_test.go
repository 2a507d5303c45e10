package routing

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"lethe/crypto"
)

// TestInsertThenFetchAcrossALine: a block inserted at one end of a line of nodes is stored by
// the node closest to its key and fetched, verified, at the other end. Neither the inserting
// nor the fetching node keeps a copy of its own user's block.
func TestInsertThenFetchAcrossALine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Locations 0.0125, 0.0375, … 0.4875, on half the circle so that the distance to the
		// key falls along the line: the key at 0.4875 is nearest node 19, at the end, where no
		// stem from node 0 can walk past it.
		locs := make([]crypto.Location, 20)
		for i := range locs {
			locs[i] = crypto.Location(0.0125 + 0.025*float64(i))
		}
		tn := newTestNet(t, locs, func(i int, c *Config) { c.MaxPeers = 4 })
		tn.line()
		settle()
		block, key := chkBlock(t, 0.4875, 0.002)

		if err := tn.nodes[0].r.PutBlock(context.Background(), crypto.CHK, key.Routing, block); err != nil {
			t.Fatalf("PutBlock: %v", err)
		}
		settle()
		if stored, cached := tn.nodes[0].store.Has(crypto.CHK, key.Routing); stored || cached {
			t.Error("the inserting node kept its own user's block")
		}
		// Node 19 is the sink; nothing far from the key keeps the block. (On a line the tail
		// has nowhere to go: its one other neighbour is the node the insert came from.)
		for i, n := range tn.nodes {
			stored, _ := n.store.Has(crypto.CHK, key.Routing)
			if i < 19-sinkTail && stored || i == 19 && !stored {
				t.Errorf("node %d (location %.4f) stored the block long-term: %v", i, n.loc, stored)
			}
		}

		// Node 1 saw the insert only in the stem, so holds nothing of it.
		fetcher := tn.nodes[1]
		if stored, cached := fetcher.store.Has(crypto.CHK, key.Routing); stored || cached {
			t.Fatal("node 1 kept the insert it relayed in the stem")
		}
		got, err := fetcher.r.GetBlock(context.Background(), crypto.CHK, key.Routing)
		if err != nil {
			t.Fatalf("GetBlock: %v", err)
		}
		if !bytes.Equal(got, block) {
			t.Fatal("fetched block differs from the inserted one")
		}
		settle()
		if stored, cached := fetcher.store.Has(crypto.CHK, key.Routing); stored || cached {
			t.Error("the fetching node kept its own user's download")
		}
	})
}

func TestFetchMissingBlock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestNet(t, spread(5, 0), func(i int, c *Config) { c.MaxPeers = 4 })
		tn.line()
		settle()
		_, key := randomCHK(t)
		_, err := tn.nodes[0].r.GetBlock(context.Background(), crypto.CHK, key.Routing)
		if !errors.Is(err, ErrDataNotFound) && !errors.Is(err, ErrRouteNotFound) {
			t.Fatalf("GetBlock of a block nobody has: err = %v, want not found", err)
		}
	})
}
