package sim

// CollusionMeasurement is what a fraction of colluding nodes learn about downloaders when
// they pool everything they see: every request for the file's blocks that reaches any of
// them, with its sender, its HTL, its stem tag, and the moment it arrived. They run the
// predecessor attack: for each block, the colluder that saw its request first names the
// neighbour it came from, and the node named for the most blocks is the suspect. Knowing the
// exact order of arrival is more than HTLs and stem tags can tell them (both only order a
// request's arrivals coarsely), so this is the attack at its strongest.
//
// The colluders are passive: they route like everyone else. So the same downloads are
// analysed under many draws of the colluding set, which costs no more simulation.
type CollusionMeasurement struct {
	Fraction  float64
	Colluders int // nodes in each set
	Draws     int // sets drawn per download

	Saw                Share // downloads of which some colluder saw a request
	Identified         Share // downloads whose downloader was the colluders' top suspect (ties split)
	IdentifiedWhenSeen Share // the same, among the downloads they saw
	// Confident is the share of correct names among the names given with confidence: where
	// the suspect sent the first colluder the request for at least half the file's blocks.
	Confident Share

	// ROC over every honest node as a candidate, scored by the blocks for which it was the
	// predecessor of the first colluder to see the block's request.
	ROC ROC
}

// collude measures the predecessor attack of a fraction f of colluders on the downloads.
func (s *Sim) collude(ds []*download, f float64) CollusionMeasurement {
	alive := s.alive()
	m := CollusionMeasurement{Fraction: f, Colluders: roundShare(f, len(alive)), Draws: s.cfg.CollusionDraws,
		ROC: newROC(s.cfg.FileBlocks)}
	inC := make([]bool, len(s.nodes))
	pool := make([]int32, 0, len(alive))
	for _, d := range ds {
		pool = pool[:0]
		for _, n := range alive {
			if n.idx != d.from {
				pool = append(pool, int32(n.idx))
			}
		}
		pred := make([]int32, len(d.keys))
		for range m.Draws {
			// Draw the colluders: a partial shuffle of everyone but the downloader.
			for i := range m.Colluders {
				j := i + s.rng.IntN(len(pool)-i)
				pool[i], pool[j] = pool[j], pool[i]
				inC[pool[i]] = true
			}
			s.predecessors(d, int64(len(alive)-m.Colluders), inC, pred, &m)
			for _, c := range pool[:m.Colluders] {
				inC[c] = false
			}
		}
	}
	return m
}

// predecessors scores one download against one colluding set (inC), among honest nodes.
func (s *Sim) predecessors(d *download, honest int64, inC []bool, pred []int32, m *CollusionMeasurement) {
	for i := range pred {
		pred[i] = -1
	}
	for _, sg := range d.sightings {
		if pred[sg.block] != -1 || !inC[sg.at] {
			continue
		}
		pred[sg.block] = sg.from
		if inC[sg.from] {
			pred[sg.block] = -2 // cannot happen: the sender saw it first
		}
	}
	score := map[int32]int{}
	for _, p := range pred {
		if p >= 0 {
			score[p]++
		}
	}
	D := int32(d.from)
	var top ranking
	for x, c := range score {
		top.add(c, x == D)
		if x != D {
			m.ROC.add(false, c, 1)
		}
	}
	m.ROC.add(true, score[D], 1)
	zeros := honest - 1 - int64(len(score))
	if _, ok := score[D]; ok {
		zeros++
	}
	m.ROC.add(false, 0, zeros)

	saw := len(score) > 0
	credit := top.credit()
	if 2*top.best >= len(pred) {
		m.Confident.add(credit)
	}
	m.Saw.add(b2f(saw))
	m.Identified.add(credit)
	if saw {
		m.IdentifiedWhenSeen.add(credit)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
