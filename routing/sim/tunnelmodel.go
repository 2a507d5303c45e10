package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// The tunnel path-selection model (docs/spec.md §18.11). Before tunnels are built into the
// routers, this model chooses between ways of picking a tunnel's hops, on the topologies
// the real routers form, by what colluders learn. It knows only the graph: who links to whom
// and where each node sits. A tunnel is a path over existing links from the originator O:
// a guard G (one of O's peers, kept), then hops each picked by O from the attested peer list
// of the hop before, the last of which, the end E, routes the requests by key.
//
// The adversary is a fraction f of the nodes, pooling what they see. It learns a download's
// originator and its content together when one of the download's tunnels has a colluding
// guard (which names O: its predecessor) and a colluding end (which sees the keys); the two
// are linked because they are on one tunnel (timing, cell counts). Across an honest end the
// model gives them no link: the request that leaves E looks like any request E relays. The
// bound for the case that they could link across it too (a colluder anywhere on the search
// after an honest end) is reported beside it.

// Graph is a formed topology: each node's peers and location.
type Graph struct {
	Adj [][]int32
	Loc []float64
}

// FormGraph grows a network as Run does (opennet by announcements and path folding, or a
// darknet friend graph with swapping) with the real routers and returns its topology.
func FormGraph(cfg Config) (*Graph, error) {
	cfg.defaults()
	s := newSim(cfg)
	defer s.close()
	if err := s.build(); err != nil {
		return nil, err
	}
	var err error
	if cfg.Darknet {
		err = s.formDarknet()
	} else {
		err = s.formOpennet()
	}
	if err != nil {
		return nil, err
	}
	g := &Graph{Adj: make([][]int32, len(s.nodes)), Loc: make([]float64, len(s.nodes))}
	for i, n := range s.nodes {
		g.Loc[i] = float64(n.r.Location())
		for _, p := range n.r.Peers() {
			if j, ok := s.tr.index[p.ID]; ok {
				g.Adj[i] = append(g.Adj[i], int32(j))
			}
		}
		slices.Sort(g.Adj[i])
	}
	return g, nil
}

// Adversary is how colluding nodes behave when a tunnel is built through them.
type Adversary int

const (
	// Passive colluders follow the protocol and pool what they see.
	Passive Adversary = iota
	// ActiveReal colluders advertise, as their peer list, only the colluders they are really
	// linked to, padded with honest peers to the shortest list an originator accepts.
	ActiveReal
	// ActiveSybil colluders advertise only colluders, made up if need be (identities cost
	// nothing on opennet): whatever O picks after a colluding hop is a colluder.
	ActiveSybil
)

func (a Adversary) String() string {
	return [...]string{"passive", "active (real links)", "active (Sybil lists)"}[a]
}

// PathPolicy is one way of picking tunnels.
type PathPolicy struct {
	Links   int // links from O to the end: 1 (the guard is the end), 2 or 3
	Tunnels int // tunnels a download spreads its blocks over, each through its own guard
	// MinList is the shortest peer list O accepts from a hop it extends from; a hop with
	// fewer peers is not extended through (a guard with fewer is not chosen).
	MinList int
	// AvoidOwnPeers keeps O's own peers out of every position but the guard's, so that no
	// two of O's neighbours stand on one of its tunnels.
	AvoidOwnPeers bool
}

func (p PathPolicy) String() string {
	s := fmt.Sprintf("%d links, %d tunnel", p.Links, p.Tunnels)
	if p.Tunnels > 1 {
		s += "s"
	}
	if p.MinList > 0 {
		s += fmt.Sprintf(", lists ≥ %d", p.MinList)
	}
	if p.AvoidOwnPeers {
		s += ", not O's peers"
	}
	return s
}

// ModelResult is what colluders learn under one policy, adversary and fraction.
type ModelResult struct {
	Policy    PathPolicy
	Adversary Adversary
	Fraction  float64
	// Exposed: downloads whose originator and content the colluders both learn (a tunnel
	// with a colluding guard and a colluding end).
	Exposed Share
	// ExposedAcrossEnd is the bound if colluders could also link a request that left an
	// honest end to its tunnel: a colluding guard and any colluder on the tunnel or on the
	// searches of its blocks.
	ExposedAcrossEnd Share
	// EndColludes is P(an end colludes | its guard colludes): what the guard's position buys.
	EndColludes Share
	// Fallbacks counts tunnels that could not keep O's own peers out.
	Fallbacks, Built int
}

// ModelConfig sizes a model run.
type ModelConfig struct {
	Downloads  int // originators, each with a download [2000]
	Blocks     int // blocks per download, spread over its tunnels [64]
	SearchHops bool
	Draws      int // colluding sets per download [20]
	Seed       uint64
}

// Model runs the path-selection model for each policy, adversary and fraction.
func (g *Graph) Model(mc ModelConfig, policies []PathPolicy, advs []Adversary, fractions []float64) []ModelResult {
	if mc.Downloads <= 0 {
		mc.Downloads = 2000
	}
	if mc.Blocks <= 0 {
		mc.Blocks = 64
	}
	if mc.Draws <= 0 {
		mc.Draws = 20
	}
	var out []ModelResult
	for _, p := range policies {
		for _, a := range advs {
			for _, f := range fractions {
				out = append(out, g.model(mc, p, a, f))
			}
		}
	}
	return out
}

func (g *Graph) model(mc ModelConfig, p PathPolicy, adv Adversary, f float64) ModelResult {
	rng := rand.New(rand.NewPCG(mc.Seed, uint64(p.Links)<<32|uint64(p.Tunnels)<<16|uint64(adv)<<8|uint64(f*1000)))
	n := len(g.Adj)
	res := ModelResult{Policy: p, Adversary: adv, Fraction: f}
	colluders := roundShare(f, n)
	inC := make([]bool, n)
	perm := make([]int32, n)
	for i := range perm {
		perm[i] = int32(i)
	}
	for range mc.Downloads {
		o := int32(rng.IntN(n))
		keys := make([]float64, mc.Blocks)
		for i := range keys {
			keys[i] = rng.Float64()
		}
		for range mc.Draws {
			// Draw the colluders among everyone but O.
			drawn := 0
			for i := 0; drawn < colluders; i++ {
				j := i + rng.IntN(n-i)
				perm[i], perm[j] = perm[j], perm[i]
				if perm[i] != o {
					inC[perm[i]] = true
					drawn++
				}
			}
			g.download(rng, o, keys, p, adv, inC, mc.SearchHops, &res)
			for i := range n {
				inC[i] = false
			}
		}
	}
	return res
}

// download builds one download's tunnels against one colluding set and scores it.
func (g *Graph) download(rng *rand.Rand, o int32, keys []float64, p PathPolicy, adv Adversary, inC []bool, search bool, res *ModelResult) {
	guards := g.guards(rng, o, p)
	exposed, across := false, false
	for t, guard := range guards {
		path, fellBack := g.tunnel(rng, o, guard, p, adv, inC)
		res.Built++
		if fellBack {
			res.Fallbacks++
		}
		if path == nil {
			continue
		}
		end := path[len(path)-1]
		if !inC[guard] {
			continue
		}
		res.EndColludes.add(b2f(inC[end]))
		if inC[end] {
			exposed = true
		}
		if !across && search {
			for _, c := range path {
				if inC[c] {
					across = true
				}
			}
			for b := t; b < len(keys) && !across; b += len(guards) {
				for _, c := range g.greedy(end, keys[b]) {
					if inC[c] {
						across = true
						break
					}
				}
			}
		}
	}
	res.Exposed.add(b2f(exposed))
	res.ExposedAcrossEnd.add(b2f(exposed || across))
}

// guards picks O's guards: distinct peers with lists long enough.
func (g *Graph) guards(rng *rand.Rand, o int32, p PathPolicy) []int32 {
	var cands []int32
	for _, x := range g.Adj[o] {
		if len(g.Adj[x]) >= p.MinList {
			cands = append(cands, x)
		}
	}
	rng.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	return cands[:min(len(cands), p.Tunnels)]
}

// tunnel picks the hops after the guard. Returns the path from the guard to the end.
func (g *Graph) tunnel(rng *rand.Rand, o, guard int32, p PathPolicy, adv Adversary, inC []bool) ([]int32, bool) {
	path := []int32{guard}
	fellBack := false
	for len(path) < p.Links {
		at := path[len(path)-1]
		list := g.advertised(rng, at, p, adv, inC)
		if len(list) < p.MinList {
			return nil, false
		}
		var cands, loose []int32
		for _, x := range list {
			if x == o || slices.Contains(path, x) {
				continue
			}
			loose = append(loose, x)
			if p.AvoidOwnPeers && g.linked(o, x) {
				continue
			}
			cands = append(cands, x)
		}
		if len(cands) == 0 {
			cands, fellBack = loose, true
		}
		if len(cands) == 0 {
			return nil, fellBack
		}
		path = append(path, cands[rng.IntN(len(cands))])
	}
	return path, fellBack
}

// advertised is the peer list node x shows an originator extending through it.
func (g *Graph) advertised(rng *rand.Rand, x int32, p PathPolicy, adv Adversary, inC []bool) []int32 {
	if !inC[x] || adv == Passive {
		return g.Adj[x]
	}
	var c, h []int32
	for _, y := range g.Adj[x] {
		if inC[y] {
			c = append(c, y)
		} else {
			h = append(h, y)
		}
	}
	switch adv {
	case ActiveSybil:
		// Made-up colluders stand in for the list; any colluder will do for the model.
		for len(c) < max(p.MinList, 1) {
			c = append(c, g.anyColluder(rng, inC))
		}
		return c
	default:
		rng.Shuffle(len(h), func(i, j int) { h[i], h[j] = h[j], h[i] })
		for len(c) < p.MinList && len(h) > 0 {
			c = append(c, h[0])
			h = h[1:]
		}
		if len(c) == 0 {
			return g.Adj[x] // no colluding peer: it can only tell the truth or fail
		}
		return c
	}
}

func (g *Graph) anyColluder(rng *rand.Rand, inC []bool) int32 {
	for {
		if x := int32(rng.IntN(len(inC))); inC[x] {
			return x
		}
	}
}

func (g *Graph) linked(a, b int32) bool {
	_, ok := slices.BinarySearch(g.Adj[a], b)
	return ok
}

// greedy is the path of a search from node at for a key at location key: to the peer nearest
// the key while one is nearer than the node itself (routing without friend-of-a-friend
// locations, so a little longer than the routers' searches). It excludes at.
func (g *Graph) greedy(at int32, key float64) []int32 {
	var path []int32
	for range 40 {
		best, bestD := int32(-1), dist(g.Loc[at], key)
		for _, y := range g.Adj[at] {
			if d := dist(g.Loc[y], key); d < bestD {
				best, bestD = y, d
			}
		}
		if best < 0 {
			break
		}
		path = append(path, best)
		at = best
	}
	return path
}

func dist(a, b float64) float64 {
	d := a - b
	if d < 0 {
		d = -d
	}
	return min(d, 1-d)
}

// FormatModel renders model results as a table.
func FormatModel(rs []ModelResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-44s %-22s %5s %10s %14s %12s %9s\n", "policy", "adversary", "f", "exposed", "across end", "P(E∈C|G∈C)", "fallback")
	for _, r := range rs {
		fmt.Fprintf(&b, "%-44s %-22s %4.0f%% %9.3f%% %13.2f%% %12.3f %8.2f%%\n", r.Policy, r.Adversary, 100*r.Fraction,
			100*r.Exposed.P(), 100*r.ExposedAcrossEnd.P(), r.EndColludes.P(), 100*float64(r.Fallbacks)/float64(max(r.Built, 1)))
	}
	return b.String()
}
