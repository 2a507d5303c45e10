package sim

import (
	"fmt"
	"strings"
)

// What colluders learn of downloads that travel through tunnels (docs/spec.md §18.11), with
// the real routers: who originated a download, together with its content.
//
// What the adversary can link. Colluders pool everything they see. On one tunnel they link
// what its hops see, by timing and by the cells' numbers: a colluding guard knows the
// originator, a colluding end knows the keys, and together they know both. A request that
// leaves an honest end is, to the nodes of the search after it, a request from that end like
// any other it relays, and the model gives the colluders no link across it. The bound for an
// adversary that could link across it too (by timing: a global observer, or colluders on both
// sides who match the moments) is reported beside: a colluding guard and any colluder on the
// tunnel or on the search of one of its blocks.
//
// The predecessor attack, as for stems (collude.go): for each block the first colluder that
// sees its request in a way it can link names the node it came from: on a tunnel whose end
// colludes, the first colluding hop names its predecessor (the originator, if the guard
// colludes); otherwise the first colluder on the search after the end names its sender. The
// suspect is the node named for the most blocks.

// tunnelUse is one request of a download's block sent into a tunnel: the tunnel's hops,
// guard first, as node indexes.
type tunnelUse struct {
	block int32
	hops  []int32
}

// TunnelCollusion is what one kind of adversary learned of the downloads.
type TunnelCollusion struct {
	Who       string // "1% colluding", "one neighbour of the downloader", ...
	Draws     int
	Saw       Share // downloads of which the colluders saw some content (a key)
	Named     Share // downloads whose downloader the colluders named (ties split): originator and content
	NamedSeen Share // the same, among the downloads whose content they saw
	// NamedAcrossEnd is Named if the colluders could also link requests across an honest end.
	NamedAcrossEnd Share
}

// tunnelCollude scores the downloads against colluding sets drawn by draw, which returns a
// set (as membership) for a download, or nil to skip it.
func (s *Sim) tunnelCollude(ds []*download, who string, draws int, draw func(d *download) []bool) TunnelCollusion {
	m := TunnelCollusion{Who: who, Draws: draws}
	for _, d := range ds {
		for range draws {
			inC := draw(d)
			if inC == nil {
				continue
			}
			named, across, saw := scoreTunnelDownload(d, inC)
			m.Saw.add(b2f(saw))
			m.Named.add(named)
			m.NamedAcrossEnd.add(across)
			if saw {
				m.NamedSeen.add(named)
			}
		}
	}
	return m
}

// scoreTunnelDownload runs the predecessor attack on one download for one colluding set: the
// credit for naming the downloader (1/ties), the same for the adversary that links across an
// honest end, and whether the colluders saw any of the download's keys.
func scoreTunnelDownload(d *download, inC []bool) (named, across float64, saw bool) {
	D := int32(d.from)
	blocks := len(d.keys)
	pred := make([]int32, blocks)  // who the colluders name for each block, -1 none
	predX := make([]int32, blocks) // the same across ends
	for i := range pred {
		pred[i], predX[i] = -1, -1
	}
	// Which blocks' keys some colluder saw: at a colluding end, or on the search after one.
	sawKey := make([]bool, blocks)
	for _, u := range d.tunnelUses {
		if inC[u.hops[len(u.hops)-1]] {
			sawKey[u.block] = true
		}
	}
	for _, sg := range d.sightings {
		if inC[sg.at] {
			sawKey[sg.block] = true
		}
	}
	for _, u := range d.tunnelUses {
		end := u.hops[len(u.hops)-1]
		prev := D
		for _, h := range u.hops {
			if inC[h] {
				// Linked to the key on the tunnel itself only through a colluding end;
				// across an honest end, by the bound's assumption, whenever anyone saw it.
				if inC[end] && pred[u.block] == -1 {
					pred[u.block] = prev
				}
				if sawKey[u.block] && predX[u.block] == -1 {
					predX[u.block] = prev
				}
				break
			}
			prev = h
		}
	}
	// The searches after the ends, in the order their requests arrived.
	for _, sg := range d.sightings {
		if !inC[sg.at] {
			continue
		}
		if pred[sg.block] == -1 {
			pred[sg.block] = sg.from
		}
		if predX[sg.block] == -1 {
			predX[sg.block] = sg.from
		}
	}
	for _, k := range sawKey {
		saw = saw || k
	}
	return topCredit(pred, D), topCredit(predX, D), saw
}

// topCredit is the chance that a guess among the most-named nodes is d.
func topCredit(pred []int32, d int32) float64 {
	score := map[int32]int{}
	for _, p := range pred {
		if p >= 0 {
			score[p]++
		}
	}
	var top ranking
	for x, c := range score {
		top.add(c, x == d)
	}
	return top.credit()
}

// tunnelAnonymity measures the downloads against colluding fractions of the nodes, and against
// one and two of each downloader's own neighbours.
func (s *Sim) tunnelAnonymity(ds []*download) []TunnelCollusion {
	alive := s.alive()
	inC := make([]bool, len(s.nodes))
	var out []TunnelCollusion
	for _, f := range s.cfg.Colluders {
		k := roundShare(f, len(alive))
		var last []int32
		out = append(out, s.tunnelCollude(ds, fmt.Sprintf("%g%% of the nodes colluding (%d)", 100*f, k), s.cfg.CollusionDraws, func(d *download) []bool {
			for _, c := range last {
				inC[c] = false
			}
			last = last[:0]
			for len(last) < k {
				c := alive[s.rng.IntN(len(alive))].idx
				if c != d.from && !inC[c] {
					inC[c] = true
					last = append(last, int32(c))
				}
			}
			return inC
		}))
		for _, c := range last {
			inC[c] = false
		}
	}
	for _, k := range []int{1, 2} {
		var last []int32
		who := "one neighbour of the downloader"
		if k == 2 {
			who = "two neighbours of the downloader, colluding"
		}
		out = append(out, s.tunnelCollude(ds, who, s.cfg.CollusionDraws, func(d *download) []bool {
			for _, c := range last {
				inC[c] = false
			}
			last = last[:0]
			nb := d.adj[int32(d.from)]
			if len(nb) < k {
				return nil
			}
			for len(last) < k {
				c := nb[s.rng.IntN(len(nb))]
				if !inC[c] {
					inC[c] = true
					last = append(last, c)
				}
			}
			return inC
		}))
		for _, c := range last {
			inC[c] = false
		}
	}
	return out
}

// formatTunnelCollusion renders the measurements.
func formatTunnelCollusion(ms []TunnelCollusion, degree int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "colluders against tunnels: downloads whose originator and content they both learn (predecessor attack)\n")
	fmt.Fprintf(&b, "  %-46s %12s %12s %16s %18s\n", "", "saw content", "named", "named | saw", "across ends (bound)")
	for _, m := range ms {
		fmt.Fprintf(&b, "  %-46s %11.2f%% %11.3f%% %15.3f%% %17.2f%%\n", m.Who, 100*m.Saw.P(), 100*m.Named.P(), 100*m.NamedSeen.P(), 100*m.NamedAcrossEnd.P())
	}
	fmt.Fprintf(&b, "  (bound for a neighbour's guess: 1/(1+degree/2) = %.4f)\n", 1/(1+float64(degree)/2))
	return b.String()
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
