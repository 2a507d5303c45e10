package sim

import (
	"context"
	"time"
)

// formOpennet grows the network the way opennet grows (spec §18.8): nodes join one by one,
// each linking to a random node that has room and announcing itself through it; then
// requests for random keys let path folding give the network its long links.
func (s *Sim) formOpennet() error {
	// The seeds, linked to each other, are the network's first nodes.
	for i := range s.seeds {
		for j := range i {
			if err := s.nodes[i].t.Connect(context.Background(), s.nodes[j].ref); err != nil {
				return err
			}
		}
	}
	for i := len(s.seeds); i < len(s.nodes); {
		end := min(len(s.nodes), i+s.cfg.Parallel)
		batch := s.nodes[i:end]
		s.parallel(len(batch), func(k int) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			batch[k].r.Maintain(ctx)
		})
		i = end
		s.advance(10 * time.Second)
		if i%1000 < s.cfg.Parallel {
			s.logf("joined %d nodes", i)
		}
	}
	s.waitQuiet()
	deg, _ := s.topology()
	comps, largest := s.components()
	s.logf("all joined: mean degree %.1f, %d components, largest %.1f%%", deg, comps, 100*largest)
	s.maintain()

	keys, err := s.insertKeys("formation", s.cfg.FormationKeys, false)
	if err != nil {
		return err
	}
	total := s.cfg.FormationRequests * len(s.nodes)
	done := 0
	for done < total {
		n := min(total-done, len(s.nodes))
		s.measure(keys, n)
		done += n
		s.advance(time.Minute)
		s.maintain()
		deg, _ := s.topology()
		comps, largest := s.components()
		s.logf("path folding: %d/%d requests, mean degree %.1f, %d components, largest %.1f%%", done, total, deg, comps, 100*largest)
	}
	s.waitQuiet()
	return nil
}

// maintain lets every opennet node do its periodic upkeep: announcing itself again when short
// of peers.
func (s *Sim) maintain() {
	alive := s.alive()
	s.parallel(len(alive), func(i int) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		alive[i].r.Maintain(ctx)
	})
	s.waitQuiet()
}

// waitQuiet gives connections and location updates started in the background time to land.
func (s *Sim) waitQuiet() { time.Sleep(300 * time.Millisecond) }

// formDarknet links the nodes as friends in a small-world social graph that knows nothing of
// their random locations (each node's hidden place on a ring; links to ring neighbours and
// long links with probability ∝ 1/distance, Kleinberg's model), then lets location swapping
// find locations that fit the graph.
func (s *Sim) formDarknet() error {
	n := len(s.nodes)
	per := max(1, s.cfg.Degree/2) // links each node starts; the graph's mean degree is twice that
	harmonic := 0.0
	for d := 1; d <= n/2; d++ {
		harmonic += 1 / float64(d)
	}
	edges := map[[2]int]bool{}
	add := func(a, b int) {
		if a == b {
			return
		}
		if a > b {
			a, b = b, a
		}
		edges[[2]int{a, b}] = true
	}
	for i := range n {
		add(i, (i+1)%n) // ring neighbour
		for range per - 1 {
			// Distance d with probability ∝ 1/d, by inverting the harmonic sum.
			u := s.rng.Float64() * harmonic
			d := 1
			for acc := 1.0; acc < u && d < n/2; acc += 1 / float64(d) {
				d++
			}
			if s.rng.IntN(2) == 0 {
				d = -d
			}
			add(i, ((i+d)%n+n)%n)
		}
	}
	for e := range edges {
		if err := s.nodes[e[0]].t.Connect(context.Background(), s.nodes[e[1]].ref); err != nil {
			return err
		}
	}
	s.waitQuiet()
	deg, _ := s.topology()
	s.logf("friend graph: %d links, mean degree %.1f; swapping %d rounds", len(edges), deg, s.cfg.SwapRounds)
	for round := range s.cfg.SwapRounds {
		s.parallel(n, func(i int) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s.nodes[i].r.Swap(ctx)
		})
		if (round+1)%50 == 0 {
			s.logf("swap round %d: ring-order error %.3f", round+1, s.ringError())
		}
	}
	for _, nd := range s.nodes {
		nd.store.SetLocation(nd.r.Location())
	}
	s.waitQuiet()
	return nil
}

// ringError measures how far swapping is from putting the friend graph's hidden ring in
// location order: the mean location distance between hidden ring neighbours, relative to the
// 1/n of a perfect embedding (1 is perfect; random locations give about n/4).
func (s *Sim) ringError() float64 {
	n := len(s.nodes)
	sum := 0.0
	for i := range n {
		a, b := s.nodes[i].r.Location(), s.nodes[(i+1)%n].r.Location()
		sum += a.Distance(b)
	}
	return sum / float64(n) * float64(n)
}
