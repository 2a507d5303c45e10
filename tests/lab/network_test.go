//go:build linux

package lab_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/fcp"
	"lethe/proxy/filter"
	"lethe/routing"
	"lethe/tests/lab"
)

// startNodes starts a node on each host and waits until each serves.
func startNodes(t *testing.T, bin string, hosts []*lab.Host, args ...string) []*lab.Node {
	t.Helper()
	nodes := make([]*lab.Node, len(hosts))
	for i, h := range hosts {
		nodes[i] = h.NewNode(bin, args...)
		nodes[i].Start()
	}
	return nodes
}

// ringFriends makes the nodes friends along a ring and its chords (each node with the nodes
// one and two places away), degree 4, as a small darknet.
func ringFriends(t *testing.T, nodes []*lab.Node) {
	t.Helper()
	for i := range nodes {
		for _, d := range []int{1, 2} {
			if j := (i + d) % len(nodes); j != i && (d == 1 || len(nodes) > 4) {
				lab.Befriend(t, nodes[i], nodes[j])
			}
		}
	}
}

// waitPeers waits until every node has at least want peers, and fails the test naming those
// that have fewer if within passes.
func waitPeers(t *testing.T, nodes []*lab.Node, want int, within time.Duration) time.Duration {
	t.Helper()
	took, ok := waitFor(within, func() bool {
		for _, n := range nodes {
			if n.Peers() < want {
				return false
			}
		}
		return true
	})
	if !ok {
		for _, n := range nodes {
			if c := n.Peers(); c < want {
				t.Errorf("%s has %d peers\n%s", n.Host.Name, c, n.Proc.Tail(1500))
			}
		}
		t.Fatalf("not every node has %d peers after %v", want, within)
	}
	return took
}

// firstByte GETs the file at uri through the node's browsing proxy and returns the time to
// the first byte of the body, checking that the body is want.
func firstByte(t *testing.T, n *lab.Node, uri crypto.RequestURI, want []byte) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+lab.ProxyAddr+filter.Path(uri), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Sec-Fetch-Site", "none") // the user asks, not another site (spec §20.2)
	start := time.Now()
	resp, err := n.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("GET through the proxy of %s: %v", n.Host.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %v through the proxy of %s: %s", uri, n.Host.Name, resp.Status)
	}
	br := bufio.NewReader(resp.Body)
	if _, err := br.Peek(1); err != nil {
		t.Fatalf("GET through the proxy of %s: %v", n.Host.Name, err)
	}
	first := time.Since(start)
	body, err := io.ReadAll(br)
	if err != nil || !bytes.Equal(body, want) {
		t.Errorf("GET through the proxy of %s: %d bytes (%v), not the %d inserted", n.Host.Name, len(body), err, len(want))
	}
	return first
}

// insertTyped inserts data with a content type, so that the proxy serves it as it is.
func insertTyped(t *testing.T, n *lab.Node, data []byte, name, mime string) crypto.RequestURI {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	uri, err := n.Client(t).Put(ctx, fcp.PutRequest{URI: crypto.InsertURI{Type: crypto.CHK}, TargetFilename: name, ContentType: mime,
		Data: bytes.NewReader(data), DataLength: int64(len(data))}, nil)
	if err != nil {
		t.Fatalf("insert %s at %s: %v", name, n.Host.Name, err)
	}
	return uri
}

// TestWANFetch: two friends at home, each behind an endpoint-independent NAT, in a darknet of
// six public nodes (links of 40 ms one way, 0.5% loss everywhere). A file inserted at one is
// fetched cold at the other, through the network: 64 MiB at ≥ 20 MB/s, and the first byte of
// a 1 MiB file through the browsing proxy within 2 s. Then the same with every uplink capped at
// 20 Mbit/s, reported without a target. It runs only with LETHE_LONG=1 (minutes); LAB_SIZE=4
// moves 4 MiB instead, for a quicker look, and requires no speed.
//
//	LETHE_LONG=1 go test ./tests/lab -run TestWANFetch -v -timeout 60m
func TestWANFetch(t *testing.T) {
	if !long() {
		t.Skip("minutes long: runs with LETHE_LONG=1")
	}
	size := 64 << 20
	if mib, err := strconv.Atoi(os.Getenv("LAB_SIZE")); err == nil && mib > 0 {
		size = mib << 20
	}
	l := lab.New(t)
	bin := lab.Binary(t, "lethe/cmd/lethe")
	var sites []string
	var hosts []*lab.Host
	for i := range 6 {
		name := fmt.Sprintf("p%d", i)
		hosts = append(hosts, l.AddPublicHost(name, wan))
		sites = append(sites, name)
	}
	ra := l.AddRouter("home-a", lab.RouterConfig{NAT: lab.EndpointIndependent, Link: wan})
	rb := l.AddRouter("home-b", lab.RouterConfig{NAT: lab.EndpointIndependent, Link: wan})
	sites = append(sites, "home-a", "home-b")
	hosts = append(hosts, ra.AddHost("a"), rb.AddHost("b"))
	nodes := startNodes(t, bin, hosts)
	public, a, b := nodes[:6], nodes[6], nodes[7]
	ringFriends(t, public)
	for i := range 3 {
		lab.Befriend(t, a, public[i])
		lab.Befriend(t, b, public[3+i])
	}
	took := waitPeers(t, nodes, 3, time.Minute)
	t.Logf("8 nodes linked in %v", took.Round(time.Millisecond))

	for _, uplink := range []int64{0, 20e6} {
		link := wan
		link.Uplink = uplink
		t.Run(link.String(), func(t *testing.T) {
			// The files are inserted over links without delay or loss, which is quicker;
			// what is measured is the fetch, over the links of the scenario.
			setLinks := func(k lab.Link) {
				for _, s := range sites {
					l.SetLink(s, k)
				}
			}
			setLinks(lab.Link{})
			seed := uint64(uplink) + 7
			data := randomFile(seed, size)
			small := randomFile(seed+1, 1<<20)
			start := time.Now()
			uri := insert(t, a, data, "big.bin", 30*time.Minute)
			ins := time.Since(start)
			suri := insertTyped(t, a, small, "first-byte.webm", "video/webm")
			setLinks(link)
			before, _ := l.Stats()
			routed := routingStats(t, nodes)
			d, err := fetch(t, b, uri, data, 30*time.Minute)
			if err != nil {
				t.Fatalf("fetch at b: %v", err)
			}
			rate := float64(size) / d.Seconds() / 1e6
			t.Logf("%v: %d MiB (inserted at a in %v over links without delay) fetched cold at b in %v: %.1f MB/s",
				link, size>>20, ins.Round(time.Millisecond), d.Round(time.Millisecond), rate)
			time.Sleep(3 * time.Second) // the status files are rewritten every 2 s
			after := routingStats(t, nodes)
			asked := after[len(nodes)-1].LocalRequests - routed[len(nodes)-1].LocalRequests
			var crossed uint64
			for i := range nodes {
				crossed += after[i].Requests - routed[i].Requests
			}
			t.Logf("%v: b asked the network for %d blocks (the rest were in its store); requests crossed %d links, %.1f a block",
				link, asked, crossed, float64(crossed)/float64(max(asked, 1)))
			first := firstByte(t, b, suri, small)
			t.Logf("%v: first byte of a 1 MiB file through b's proxy after %v", link, first.Round(time.Millisecond))
			logStats(t, l, before)
			if size == 64<<20 && uplink == 0 {
				if rate < 20 {
					t.Errorf("cold fetch of %d MiB at %.1f MB/s, want ≥ 20 MB/s", size>>20, rate)
				}
				if first > 2*time.Second {
					t.Errorf("first byte through the proxy after %v, want ≤ 2 s", first)
				}
			}
		})
	}
}

// routingStats reads each node's routing counters from its status (zero where it cannot).
func routingStats(t *testing.T, nodes []*lab.Node) []routing.Stats {
	t.Helper()
	out := make([]routing.Stats, len(nodes))
	for i, n := range nodes {
		if st, err := n.Status(); err == nil {
			out[i] = st.Routing
		}
	}
	return out
}

// logStats logs what the internet carried and dropped at each site since before (nil: since
// the lab started).
func logStats(t *testing.T, l *lab.Lab, before map[string]lab.SiteStats) {
	t.Helper()
	st, err := l.Stats()
	if err != nil {
		t.Log(err)
		return
	}
	for _, name := range slices.Sorted(maps.Keys(st)) {
		s, b := st[name], before[name]
		s.Sent, s.Delivered, s.Lost, s.Overflow, s.Unroutable = s.Sent-b.Sent, s.Delivered-b.Delivered, s.Lost-b.Lost, s.Overflow-b.Overflow, s.Unroutable-b.Unroutable
		t.Logf("  %-8s sent %d packets: %d delivered, %d lost to the link, %d to a full queue, %d to no one", name, s.Sent, s.Delivered, s.Lost, s.Overflow, s.Unroutable)
	}
}
