package sim

import (
	"cmp"
	"context"
	"fmt"
	"lethe/wire"
	"math"
	"slices"
	"sync"

	"lethe/crypto"
	"lethe/routing"
)

// The volume test (docs/performance.md, "Requester anonymity"). A downloader D fetches every
// block of a file, and the adversary knows the file's keys (the worst case: it has the file,
// or its URI was published). Each node that receives requests for those blocks counts, for
// each of its neighbours, how many of the file's blocks that neighbour asked it for. A
// neighbour that asks for a large share of a file looks like its downloader; a relay
// forwards only the requests that happen to pass through it. This is the attack that Levine
// et al. ("Statistical detection of downloaders in Freenet", 2017) ran against Freenet, where
// a downloader sends each neighbour about 1/degree of the file and a relay far less.
//
// Lethe's answer is the stem tag (spec §18.2): all the requests of one download walk one
// stem, so the node after the downloader sees the whole file from it, exactly as every later
// node on the stem sees the whole file from its own predecessor, and the downloader's other
// neighbours see nothing from it. The simulator measures the test with one tag per download,
// as the node fetches, and with a stem per request, for comparison.

// download is one simulated download; the tracer fills in its sightings while it runs.
type download struct {
	from int // the downloader's node index
	keys []crypto.RoutingKey
	tag  uint64 // the stem tag, or 0 for a stem per request

	found      int
	sightings  []sighting  // guarded by tracer.mu while the download runs
	tunnelUses []tunnelUse // the tunnels its requests went into; guarded likewise

	// The downloader's neighbourhood when the download started: the neighbours of every
	// node within two hops of it.
	adj map[int32][]int32
}

// sighting is one arrival of a request for a block of a download, as its receiver saw it.
type sighting struct {
	seq      uint64 // order of arrival across the simulation
	at, from int32  // the node that received the request, and the neighbour that sent it
	block    int32  // which block of the file
	htl      uint8
}

// VolumeReport is what the volume test measured: the observers' view of the downloads with
// the downloader as the one to find, and the same with each download's tunnel end (the one
// that carried most of it) in its place. The second is the control: an end sends the blocks
// in the clear, as a downloader without a tunnel would, and a test blind to that could not
// tell the downloader apart either.
type VolumeReport struct {
	Downloads, FileBlocks, Degree int
	Downloader, End               VolumeMeasurement
}

// VolumeMeasurement is the outcome of the volume test with one node as the one to find:
// the downloader (or, in the control, its tunnel's end; "the downloader" below).
//
// A single observer O scores each candidate X by the number of the file's blocks X asked O
// for (divided by FileBlocks, a share). Its candidates are all its neighbours: the adversary
// does not choose where it stands, and a neighbour that sent it nothing is a suspect the test
// clears — wrongly, when that neighbour is the downloader. The Senders variants keep only the
// neighbours that sent O at least one of the file's requests. Most of those are relays of the
// searches after the tunnels' ends, which send a block or two.
type VolumeMeasurement struct {
	Blocks, Found         int
	OneHop, TwoHops       ROC // observers next to the downloader; within two hops of it
	OneHopSenders         ROC
	TwoHopsSenders        ROC
	TopOneHop, TopTwoHops Share                  // P(the top-scored neighbour is the downloader | the observer saw the file), next to it / within two hops
	TopAnywhere           Share                  // the same, for every node that saw the file
	FullVolume            Share                  // P(X is the downloader | X asked O for at least half the file), over all (O, X)
	Tunnel                []TunnelCollusion      // colluders against the downloads' tunnels (tunnelanon.go)
	HTLOfFullVolume       [wire.MaxHTL + 1]Share // FullVolume split by the HTL of X's first request to O
	DownloaderFanout      Share                  // neighbours a downloader sent any request to: Hits in all, Of downloads
}

// volume runs the volume test and fills rep.Volume: the downloads, each a session of its own
// (the node gives every fetch one), and the observers' and colluders' view of them.
func (s *Sim) volume(rep *Report) error {
	if s.cfg.Downloads <= 0 {
		return nil
	}
	files := make([][]crypto.RoutingKey, s.cfg.Files)
	for f := range files {
		var err error
		if files[f], err = s.insertKeys(fmt.Sprintf("file%d", f), s.cfg.FileBlocks, true); err != nil {
			return err
		}
	}
	alive := s.alive()
	ds := make([]*download, s.cfg.Downloads)
	for i := range ds {
		ds[i] = &download{from: alive[s.rng.IntN(len(alive))].idx, keys: files[i%len(files)], tag: s.rng.Uint64() | 1}
	}
	s.tr.reset() // the paths of earlier requests are not needed, and would pile up
	s.runDownloads(ds, len(files))
	rep.Volume = &VolumeReport{Downloads: s.cfg.Downloads, FileBlocks: s.cfg.FileBlocks, Degree: s.cfg.Degree}
	rep.Volume.Downloader, rep.Volume.End = s.analyseVolume(ds)
	m := &rep.Volume.Downloader
	s.logf("volume test: %d/%d blocks found; single observer next to the downloader AUC %.3f, within two hops %.3f; next to its tunnel's end (control) %.3f",
		m.Found, m.Blocks, m.OneHop.AUC(), m.TwoHops.AUC(), rep.Volume.End.OneHop.AUC())
	return nil
}

// runDownloads runs the downloads, those of one file one after another (so that every request
// for a block belongs to one download) and those of different files side by side. Each
// download keeps a window of requests in flight, as the fetcher does.
func (s *Sim) runDownloads(ds []*download, files int) {
	window := max(1, s.cfg.Parallel/files)
	var wg sync.WaitGroup
	for f := range files {
		wg.Go(func() {
			for i := f; i < len(ds); i += files {
				s.runDownload(ds[i], window)
			}
		})
	}
	wg.Wait()
}

func (s *Sim) runDownload(d *download, window int) {
	d.adj = s.neighbourhood(d.from)
	ctx := context.Background()
	if d.tag != 0 {
		ctx = routing.WithStem(ctx, d.tag)
	}
	r := s.nodes[d.from].r
	s.tr.follow(d)
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, window)
	for _, k := range d.keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := r.GetBlock(ctx, crypto.CHK, k); err == nil {
				mu.Lock()
				d.found++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	s.tr.unfollow(d)
	slices.SortFunc(d.sightings, func(a, b sighting) int { return cmp.Compare(a.seq, b.seq) })
}

// neighbourhood is the adjacency of every node within two hops of node n.
func (s *Sim) neighbourhood(n int) map[int32][]int32 {
	adj := map[int32][]int32{}
	var peersOf func(i int32) []int32
	peersOf = func(i int32) []int32 {
		if l, ok := adj[i]; ok {
			return l
		}
		var l []int32
		for _, p := range s.nodes[i].r.Peers() {
			if j, ok := s.tr.index[p.ID]; ok {
				l = append(l, int32(j))
			}
		}
		adj[i] = l
		return l
	}
	for _, a := range peersOf(int32(n)) {
		for _, b := range peersOf(a) {
			peersOf(b)
		}
	}
	return adj
}

// observation is what the nodes saw of one download: for each (observer, sender), how many
// distinct blocks, and the HTL of the sender's first request.
type observation struct {
	count   map[[2]int32]int
	firstHT map[[2]int32]uint8
	senders map[int32][]int32 // observer → the neighbours that sent it any of the file's requests
}

func observe(d *download) observation {
	o := observation{count: map[[2]int32]int{}, firstHT: map[[2]int32]uint8{}, senders: map[int32][]int32{}}
	seen := map[[3]int32]bool{}
	for _, sg := range d.sightings {
		pair := [2]int32{sg.at, sg.from}
		if _, ok := o.count[pair]; !ok {
			o.senders[sg.at] = append(o.senders[sg.at], sg.from)
			o.firstHT[pair] = sg.htl
		}
		if k := [3]int32{sg.at, sg.from, sg.block}; !seen[k] {
			seen[k] = true
			o.count[pair]++
		}
	}
	return o
}

// analyseVolume scores the downloads as a single observer and as colluders would, and, as a
// control, the single observer with each download's tunnel end in the downloader's place.
func (s *Sim) analyseVolume(ds []*download) (downloader, end VolumeMeasurement) {
	F := s.cfg.FileBlocks
	newM := func() VolumeMeasurement {
		return VolumeMeasurement{OneHop: newROC(F), TwoHops: newROC(F), OneHopSenders: newROC(F), TwoHopsSenders: newROC(F)}
	}
	downloader, end = newM(), newM()
	for _, d := range ds {
		o := observe(d)
		for _, m := range []*VolumeMeasurement{&downloader, &end} {
			m.Blocks += len(d.keys)
			m.Found += d.found
		}
		s.singleObserver(d, o, &downloader)
		if e := mainEnd(d); e >= 0 {
			c := *d
			c.from, c.adj = int(e), s.neighbourhood(int(e))
			s.singleObserver(&c, o, &end)
		}
	}
	downloader.Tunnel = s.tunnelAnonymity(ds)
	return downloader, end
}

// mainEnd is the tunnel end that carried most of a download's requests, or -1.
func mainEnd(d *download) int32 {
	count := map[int32]int{}
	best, most := int32(-1), 0
	for _, u := range d.tunnelUses {
		e := u.hops[len(u.hops)-1]
		if count[e]++; count[e] > most {
			best, most = e, count[e]
		}
	}
	return best
}

// singleObserver adds one download to the single-observer measurements.
func (s *Sim) singleObserver(d *download, o observation, m *VolumeMeasurement) {
	D := int32(d.from)
	// The downloader's neighbours: those it had when the download began, and any it sent a
	// request to (path folding may link it to a new one while it downloads). Then the nodes
	// two hops away, likewise.
	hop := map[int32]int{}
	for _, x := range d.adj[D] {
		hop[x] = 1
	}
	for _, sg := range d.sightings {
		if sg.from == D {
			hop[sg.at] = 1
		}
	}
	delete(hop, D)
	for x, h := range hop {
		if h != 1 {
			continue
		}
		for _, y := range d.adj[x] {
			if _, ok := hop[y]; !ok && y != D {
				hop[y] = 2
			}
		}
	}
	for _, sg := range d.sightings {
		if hop[sg.from] == 1 && sg.at != D {
			if _, ok := hop[sg.at]; !ok {
				hop[sg.at] = 2
			}
		}
	}
	fanout := 0
	for _, senders := range o.senders {
		if slices.Contains(senders, D) {
			fanout++
		}
	}
	m.DownloaderFanout.Hits += float64(fanout)
	m.DownloaderFanout.Of++

	for obs, h := range hop {
		cands := map[int32]bool{}
		for _, x := range d.adj[obs] {
			cands[x] = true
		}
		for _, x := range o.senders[obs] {
			cands[x] = true
		}
		if h == 1 {
			cands[D] = true
		}
		delete(cands, obs)
		for x := range cands {
			c := o.count[[2]int32{obs, x}]
			pos := x == D
			if h == 1 {
				m.OneHop.add(pos, c, 1)
			}
			m.TwoHops.add(pos, c, 1)
			if c > 0 {
				if h == 1 {
					m.OneHopSenders.add(pos, c, 1)
				}
				m.TwoHopsSenders.add(pos, c, 1)
			}
		}
	}

	F := len(d.keys)
	for obs, senders := range o.senders {
		if obs == D {
			continue
		}
		var top ranking
		for _, x := range senders {
			c := o.count[[2]int32{obs, x}]
			top.add(c, x == D)
			if 2*c >= F {
				pos := 0.0
				if x == D {
					pos = 1
				}
				m.FullVolume.add(pos)
				m.HTLOfFullVolume[o.firstHT[[2]int32{obs, x}]].add(pos)
			}
		}
		credit := top.credit()
		m.TopAnywhere.add(credit)
		switch hop[obs] {
		case 1:
			m.TopOneHop.add(credit)
			m.TopTwoHops.add(credit)
		case 2:
			m.TopTwoHops.add(credit)
		}
	}
}

// roundShare is f of n, at least 1.
func roundShare(f float64, n int) int {
	return max(1, int(math.Round(f*float64(n))))
}
