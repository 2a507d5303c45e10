package tests

import (
	"bytes"
	"testing"

	"lethe/node"
	"lethe/routing"
)

// TestTunnelsOverTestnet: nodes as they start by default insert and fetch over real links
// with their own requests inside tunnels (spec §18.11): a file inserted at one node comes back
// whole at the farthest, every block the two users sent into the network came out of a tunnel
// some node ended (none walked a stem), and tunnels had hops between. Nodes started with
// --stem (node.Config Stem) send theirs along the stem: no tunnel is built.
func TestTunnelsOverTestnet(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edit    func(int, *node.Config)
		tunnels bool
	}{
		{"default", nil, true},
		{"stem", func(i int, c *node.Config) { c.Stem = true }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn, _ := startTestnet(t, 8, tc.edit)
			far := tn.Farthest(0)
			before := make([]routing.Stats, len(tn.Nodes))
			for i, n := range tn.Nodes {
				before[i] = n.Status().Routing
			}
			data := randomBytes(1<<20, 61)
			uri := putFile(t, client(t, tn.Nodes[0]), data, "through-tunnels.bin")
			var got bytes.Buffer
			getFile(t, client(t, tn.Nodes[far]), uri, &got)
			if !bytes.Equal(got.Bytes(), data) {
				t.Fatalf("the file came back as %d bytes that differ from the %d inserted", got.Len(), len(data))
			}
			var ends, cells uint64
			for i, n := range tn.Nodes {
				st := n.Status().Routing
				ends += st.TunnelEnds - before[i].TunnelEnds
				cells += st.TunnelCells - before[i].TunnelCells
			}
			own := tn.Nodes[0].Status().Routing.LocalInserts - before[0].LocalInserts +
				tn.Nodes[far].Status().Routing.LocalRequests - before[far].LocalRequests
			t.Logf("%d blocks of the two nodes' own went into the network; tunnel ends walked %d, hops relayed %d cells", own, ends, cells)
			switch {
			case own == 0:
				t.Error("no block of the users' own went into the network")
			case tc.tunnels && ends < own:
				t.Errorf("%d of the users' blocks went out, %d came out of tunnels: the nodes' own requests did not go through tunnels", own, ends)
			case tc.tunnels && cells == 0:
				t.Error("no node relayed a tunnel cell: every tunnel was one link long")
			case !tc.tunnels && ends+cells != 0:
				t.Errorf("with the stem, %d requests came out of tunnels and %d cells were relayed, want none", ends, cells)
			}
		})
	}
}
