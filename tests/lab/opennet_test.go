//go:build linux

package lab_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/fcp"
	"lethe/tests/lab"
)

// TestOpennet: an opennet of 40 nodes, 28 of them (70%) at home behind NATs of mixed kinds
// (10 endpoint-independent, 8 endpoint-independent with UPnP, 10 symmetric), 2 public seeds
// and 10 other public nodes, over links of 40 ms and 0.5% loss. Every node has ≥ 5 peers
// within 120 s of all running; 50 files inserted at random NATed nodes are all fetched,
// byte-identical, at other NATed nodes. Runs only with LETHE_LONG=1.
//
//	LETHE_LONG=1 go test ./tests/lab -run TestOpennet -v -timeout 60m
func TestOpennet(t *testing.T) {
	if !long() {
		t.Skip("minutes long: runs with LETHE_LONG=1")
	}
	l := lab.New(t)
	bin := lab.Binary(t, "lethe/cmd/lethe")
	small := []string{"--store-size", "64MiB", "--cache-size", "32MiB"}

	var seeds []*lab.Node
	for i := range 2 {
		n := l.AddPublicHost(fmt.Sprintf("seed%d", i), wan).NewNode(bin, append([]string{"--opennet", "--seed-node"}, small...)...)
		n.Start()
		seeds = append(seeds, n)
	}
	var refs []string
	for _, s := range seeds {
		st, err := s.Status()
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, st.NodeRef)
	}
	seedFile := filepath.Join(l.Dir(), "seeds")
	if err := os.WriteFile(seedFile, []byte(strings.Join(refs, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--opennet", "--seed", seedFile}, small...)

	var public, home []*lab.Node
	for i := range 10 {
		public = append(public, l.AddPublicHost(fmt.Sprintf("pub%d", i), wan).NewNode(bin, args...))
	}
	kinds := []struct {
		name  string
		count int
		cfg   lab.RouterConfig
	}{
		{"eim", 10, lab.RouterConfig{NAT: lab.EndpointIndependent, Link: wan}},
		{"upnp", 8, lab.RouterConfig{NAT: lab.EndpointIndependent, UPnP: true, Link: wan}},
		{"sym", 10, lab.RouterConfig{NAT: lab.Symmetric, Link: wan}},
	}
	for _, k := range kinds {
		for i := range k.count {
			r := l.AddRouter(fmt.Sprintf("%s%d", k.name, i), k.cfg)
			home = append(home, r.AddHost(fmt.Sprintf("%s%d-h", k.name, i)).NewNode(bin, args...))
		}
	}
	others := append(append([]*lab.Node(nil), public...), home...)
	for _, n := range others {
		n.Launch()
	}
	for _, n := range others {
		n.WaitServing()
	}
	all := append(append([]*lab.Node(nil), seeds...), others...)
	t.Logf("%d nodes running (%d at home, %.0f%%)", len(all), len(home), 100*float64(len(home))/float64(len(all)))
	took, ok := waitFor(120*time.Second, func() bool {
		for _, n := range all {
			if n.Peers() < 5 {
				return false
			}
		}
		return true
	})
	counts := map[string][]int{}
	for _, n := range all {
		kind := strings.TrimRight(strings.TrimSuffix(n.Host.Name, "-h"), "0123456789")
		counts[kind] = append(counts[kind], n.Peers())
	}
	t.Logf("peers after %v: %v", took.Round(time.Second), counts)
	states, links := map[string]int{}, map[string]int{}
	for _, n := range all {
		if v, err := readReach(n); err == nil {
			states[v.Reach.State]++
			for _, p := range v.Peers {
				links[p.Link]++
			}
		}
	}
	t.Logf("reachability the nodes report: %v; links by kind (each counted at both ends): %v", states, links)
	if !ok {
		for _, n := range all {
			if c := n.Peers(); c < 5 {
				t.Errorf("%s has %d peers after 120 s", n.Host.Name, c)
			}
		}
	}

	// 50 files inserted at random home nodes, each fetched at another home node, ten at a
	// time.
	clients := make([]*fcp.Client, len(home))
	for i, n := range home {
		clients[i] = n.Client(t)
	}
	rng := rand.New(rand.NewPCG(40, 50))
	type job struct {
		from, to int
		data     []byte
	}
	jobs := make([]job, 50)
	for i := range jobs {
		from := rng.IntN(len(home))
		to := (from + 1 + rng.IntN(len(home)-1)) % len(home)
		jobs[i] = job{from, to, randomFile(uint64(1000+i), 32<<10+rng.IntN(96<<10))}
	}
	var (
		mu      sync.Mutex
		failed  []string
		fetched int
		wg      sync.WaitGroup
		slots   = make(chan struct{}, 10)
	)
	start := time.Now()
	for i, j := range jobs {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			err := insertAndFetch(clients[j.from], clients[j.to], j.data, fmt.Sprintf("file-%02d.bin", i))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed = append(failed, fmt.Sprintf("file %d, %d bytes, from %s to %s: %v", i, len(j.data), home[j.from].Host.Name, home[j.to].Host.Name, err))
			} else {
				fetched++
			}
		}()
	}
	wg.Wait()
	t.Logf("%d of %d files inserted at a home node were fetched byte-identical at another, in %v", fetched, len(jobs), time.Since(start).Round(time.Second))
	for _, f := range failed {
		t.Error(f)
	}
	logStats(t, l, nil)
}

// insertAndFetch inserts data through one client and fetches it through another, checking
// that it comes back byte for byte.
func insertAndFetch(from, to *fcp.Client, data []byte, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	uri, err := from.Put(ctx, fcp.PutRequest{URI: crypto.InsertURI{Type: crypto.CHK}, TargetFilename: name,
		Data: bytes.NewReader(data), DataLength: int64(len(data))}, nil)
	if err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	h := sha256.New()
	var n countWriter
	if _, err := to.Get(ctx, fcp.GetRequest{URI: uri, MaxSize: 1 << 30}, io.MultiWriter(h, &n), nil); err != nil {
		return fmt.Errorf("fetch %v: %w", uri, err)
	}
	if sum := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), sum[:]) || int(n) != len(data) {
		return fmt.Errorf("%v came back as %d bytes that differ from the %d inserted", uri, n, len(data))
	}
	return nil
}
