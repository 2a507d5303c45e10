package tests

import (
	"context"
	"crypto/sha256"
	"io"
	mrand "math/rand/v2"
	"slices"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/fcp"
)

// TestChurn: 30 nodes; a file inserted at one node; while the node farthest from it fetches
// the file, 30% of the nodes are killed one after another, as the fetch passes 5%, 10%, …
// 45% of its blocks, and two friendships among the survivors are cut. The fetch completes with
// the very bytes inserted. The killed nodes are then restarted on their data directories
// and link up with their friends again.
//
// Full size (LETHE_LONG=1): a 64 MiB file. Otherwise 8 MiB, or 4 MiB under the race
// detector, which moves it within the CI budget on two cores.
func TestChurn(t *testing.T) {
	const nodes = 30
	size := 8 << 20
	switch {
	case long():
		size = 64 << 20
	case raceEnabled:
		size = 4 << 20 // the race detector makes every hop many times slower
	}
	roles := make([]role, nodes)
	s := startSwarm(t, swarmConfig{Roles: roles, LongLinks: 2, Seed: 3})

	data := randomBytes(size, 30)
	want := sha256.Sum256(data)
	start := time.Now()
	uri := putFile(t, client(t, s.node(0)), data, "churn.bin")
	insertTime := time.Since(start)
	t.Logf("inserted %d MiB at node 0 in %v (%.1f MB/s)", size>>20, insertTime.Round(time.Millisecond), mbps(size, insertTime))

	fetcher := farthest(s, 0)
	victims, cuts := churnPlan(s, fetcher, nodes*3/10, 2, 30)
	t.Logf("fetching at node %d; killing %v; cutting %v", fetcher, victims, cuts)

	progress := make(chan fcp.Progress, 64)
	type outcome struct {
		sum [32]byte
		n   int64
		err error
	}
	done := make(chan outcome, 1)
	c := client(t, s.node(fetcher))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start = time.Now()
	go func() {
		h := sha256.New()
		var n countWriter
		_, err := c.Get(ctx, fcp.GetRequest{URI: uri, MaxSize: 1 << 30}, io.MultiWriter(h, &n), func(p fcp.Progress) {
			select {
			case progress <- p:
			default: // the next report will do
			}
		})
		var o outcome
		copy(o.sum[:], h.Sum(nil))
		o.n, o.err = int64(n), err
		done <- o
	}()

	killed, cut := 0, 0
	var res outcome
	for waiting := true; waiting; {
		select {
		case p := <-progress:
			if p.Required < size/crypto.CHKDataSize {
				continue // the file's description, not yet its data blocks
			}
			// Kill the next victim each time another twentieth of the blocks has arrived, so
			// that all are dead by half way, with room to spare before a fast fetch ends; cut
			// a friendship after the third and the sixth kill.
			for killed < len(victims) && 2*p.Succeeded*(len(victims)+1) >= (killed+1)*p.Required {
				s.kill(victims[killed])
				killed++
				t.Logf("%v: %d/%d blocks, node %d killed", time.Since(start).Round(time.Millisecond), p.Succeeded, p.Required, victims[killed-1])
				if killed%3 == 0 && cut < len(cuts) {
					if err := s.cut(cuts[cut][0], cuts[cut][1]); err != nil {
						t.Fatal(err)
					}
					cut++
				}
			}
		case res = <-done:
			waiting = false
		}
	}
	took := time.Since(start)
	if res.err != nil {
		t.Fatalf("fetch at node %d with %d of %d nodes killed: %v", fetcher, killed, nodes, res.err)
	}
	t.Logf("fetched %d MiB at node %d in %v (%.1f MB/s) with %d nodes killed and %d friendships cut during the fetch", size>>20, fetcher, took.Round(time.Millisecond), mbps(size, took), killed, cut)
	if res.sum != want || res.n != int64(size) {
		t.Fatalf("node %d fetched %d bytes that differ from the %d inserted", fetcher, res.n, size)
	}
	if killed != len(victims) {
		// The fetch outran the kills: the test did not do what it says.
		t.Fatalf("only %d of %d nodes were killed before the fetch ended", killed, len(victims))
	}
	for _, l := range cuts[:cut] {
		s.waitCut(l[0], l[1])
	}

	// The killed nodes come back on their own data directories and ports, and their
	// friends link with them again.
	start = time.Now()
	for _, v := range victims {
		s.restart(v)
	}
	s.waitLinked(60 * time.Second)
	t.Logf("%d killed nodes restarted and linked again in %v", len(victims), time.Since(start).Round(time.Millisecond))
}

// churnPlan picks k nodes to kill, none of them keep, and then m friendships to cut among
// the survivors, such that the survivors stay connected: a fetch across a network split in
// two could not complete, and that is not what the test is about.
func churnPlan(s *swarm, keep, k, m int, seed uint64) (victims []int, cuts [][2]int) {
	rng := mrand.New(mrand.NewPCG(seed, 0))
	n := len(s.nodes)
	dead := make([]bool, n)
	for len(victims) < k {
		v := rng.IntN(n)
		if v == keep || dead[v] {
			continue
		}
		dead[v] = true
		if !connected(n, s.Links(), dead) {
			dead[v] = false
			continue
		}
		victims = append(victims, v)
	}
	links := s.Links()
	for tries := 0; len(cuts) < m && tries < 1000; tries++ {
		l := links[rng.IntN(len(links))]
		if dead[l[0]] || dead[l[1]] {
			continue
		}
		rest := slices.DeleteFunc(slices.Clone(links), func(o [2]int) bool { return o == l })
		if connected(n, rest, dead) {
			links, cuts = rest, append(cuts, l)
		}
	}
	return victims, cuts
}

// connected reports whether the nodes not dead form one connected graph over links.
func connected(n int, links [][2]int, dead []bool) bool {
	adj := make([][]int, n)
	for _, l := range links {
		if !dead[l[0]] && !dead[l[1]] {
			adj[l[0]] = append(adj[l[0]], l[1])
			adj[l[1]] = append(adj[l[1]], l[0])
		}
	}
	first := slices.Index(dead, false)
	seen := make([]bool, n)
	seen[first] = true
	queue, reached := []int{first}, 1
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, w := range adj[v] {
			if !seen[w] {
				seen[w] = true
				reached++
				queue = append(queue, w)
			}
		}
	}
	alive := 0
	for _, d := range dead {
		if !d {
			alive++
		}
	}
	return reached == alive
}

// farthest is the node with the most links between it and node i (the lowest index among
// equals).
func farthest(s *swarm, i int) int {
	dist := make([]int, len(s.nodes))
	for j := range dist {
		dist[j] = -1
	}
	dist[i] = 0
	queue, best := []int{i}, i
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, w := range s.friendsOf(v) {
			if dist[w] < 0 {
				dist[w] = dist[v] + 1
				queue = append(queue, w)
				if dist[w] > dist[best] || (dist[w] == dist[best] && w < best) {
					best = w
				}
			}
		}
	}
	return best
}

// mbps is a rate in megabytes (10^6) per second.
func mbps(bytes int, d time.Duration) float64 { return float64(bytes) / 1e6 / d.Seconds() }
