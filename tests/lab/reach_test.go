//go:build linux

package lab_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/tests/lab"
)

// The scenarios of a node's reachability (spec §19.11): direct links through hole punching and
// port mappings, and what a node behind a symmetric NAT still does.

// reachView is the part of a node's status file that tells its reachability and how each
// peer is linked; it is read from the file itself, so that these scenarios read what `lethe
// status` reads.
type reachView struct {
	Reach struct {
		State  string   `json:"state"`
		Mapped []string `json:"mapped"`
		NAT    string   `json:"nat"`
		Advice string   `json:"advice"`
	} `json:"reach"`
	Peers []struct {
		ID       string  `json:"id"`
		Location float64 `json:"location"`
		Link     string  `json:"link"`
	} `json:"peers"`
}

// requireReach skips the test if the node's status says nothing of its reachability: the
// node of before issue 14, which these scenarios wait for.
func requireReach(t *testing.T, n *lab.Node) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(n.Dir, "status.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	if _, ok := fields["reach"]; !ok {
		t.Skip("the node does not report its reachability yet (issue 14)")
	}
}

func readReach(n *lab.Node) (reachView, error) {
	var v reachView
	b, err := os.ReadFile(filepath.Join(n.Dir, "status.json"))
	if err != nil {
		return v, err
	}
	return v, json.Unmarshal(b, &v)
}

// linkKind is how the node is linked to id ("quic", "tcp"), or "" when it is not.
func linkKind(n *lab.Node, id crypto.NodeID) string {
	v, err := readReach(n)
	if err != nil {
		return ""
	}
	for _, p := range v.Peers {
		if p.ID == id.String() && p.Location >= 0 {
			return p.Link + " "
		}
	}
	return ""
}

// statusText is what `lethe status` prints for the node.
func statusText(t *testing.T, bin string, n *lab.Node) string {
	t.Helper()
	out, err := exec.Command(bin, "status", "--dir", n.Dir).CombinedOutput()
	if err != nil {
		t.Fatalf("lethe status of %s: %v\n%s", n.Host.Name, err, out)
	}
	return string(out)
}

// TestHolePunch: two friends at home behind endpoint-independent NATs without UPnP, and a
// mutual friend with a public address: the two hold a direct link within 10 s of both
// running, through a hole punched with the mutual friend's help. CI allows a busy machine
// 60 s; LETHE_LONG=1 holds it to the 10 s.
//
//	LETHE_LONG=1 go test ./tests/lab -run TestHolePunch -v
func TestHolePunch(t *testing.T) {
	within := 60 * time.Second
	if long() {
		within = 10 * time.Second
	}
	l := lab.New(t)
	bin := lab.Binary(t, "lethe/cmd/lethe")
	c := l.AddPublicHost("c", wan).NewNode(bin)
	a := l.AddRouter("home-a", lab.RouterConfig{NAT: lab.EndpointIndependent, Link: wan}).AddHost("a").NewNode(bin)
	b := l.AddRouter("home-b", lab.RouterConfig{NAT: lab.EndpointIndependent, Link: wan}).AddHost("b").NewNode(bin)
	for _, n := range []*lab.Node{c, a, b} {
		n.Start() // the first run makes each node's identity and noderef
	}
	requireReach(t, a)
	lab.Befriend(t, a, b, c)
	a.Stop()
	b.Stop()
	start := time.Now()
	a.Launch()
	b.Launch()
	a.WaitServing()
	b.WaitServing()
	aID, bID := a.Ref().ID(), b.Ref().ID()
	_, ok := waitFor(within-time.Since(start), func() bool { return a.Linked(bID) && b.Linked(aID) })
	took := time.Since(start)
	va, _ := readReach(a)
	vb, _ := readReach(b)
	if !ok {
		t.Fatalf("a and b hold no direct link %v after both started (a: %+v; b: %+v)\na:\n%s\nb:\n%s\nc:\n%s", within, va, vb, a.Proc.Tail(3000), b.Proc.Tail(3000), c.Proc.Tail(3000))
	}
	t.Logf("a and b linked directly (%sa link) %v after both started; a is %q, b is %q", linkKind(a, bID), took.Round(time.Millisecond), va.Reach.State, vb.Reach.State)
}

// TestUPnPFriends: two friends behind routers with UPnP: each node maps its port on its
// router, their noderefs say the mapped addresses, and they link; the mappings are gone from
// the routers' tables once both nodes have stopped.
//
//	go test ./tests/lab -run TestUPnPFriends -v
func TestUPnPFriends(t *testing.T) {
	l := lab.New(t)
	bin := lab.Binary(t, "lethe/cmd/lethe")
	ra := l.AddRouter("home-a", lab.RouterConfig{NAT: lab.EndpointIndependent, UPnP: true, Link: wan})
	rb := l.AddRouter("home-b", lab.RouterConfig{NAT: lab.EndpointIndependent, UPnP: true, Link: wan})
	a, b := ra.AddHost("a").NewNode(bin), rb.AddHost("b").NewNode(bin)
	a.Start()
	b.Start()
	requireReach(t, a)
	for _, n := range []*lab.Node{a, b} {
		if _, ok := waitFor(30*time.Second, func() bool { v, err := readReach(n); return err == nil && v.Reach.State == "mapped" }); !ok {
			v, _ := readReach(n)
			t.Fatalf("%s is %+v 30 s after it started, not mapped\n%s", n.Host.Name, v.Reach, n.Proc.Tail(3000))
		}
	}
	for _, r := range []*lab.Router{ra, rb} {
		m, err := r.Mappings()
		if err != nil || len(m) == 0 {
			t.Fatalf("router %s holds no mapping (%v) while its node says it is mapped", r.Name, err)
		}
		t.Logf("router %s maps %q", r.Name, m)
	}
	lab.Befriend(t, a, b) // the users exchange the noderefs their nodes print now
	aID, bID := a.Ref().ID(), b.Ref().ID()
	took, ok := waitFor(30*time.Second, func() bool { return a.Linked(bID) && b.Linked(aID) })
	if !ok {
		t.Fatalf("a and b not linked 30 s after adding each other\n%s\n%s", a.Proc.Tail(3000), b.Proc.Tail(3000))
	}
	t.Logf("a and b linked (%sa link) %v after adding each other", linkKind(a, bID), took.Round(time.Millisecond))
	a.Stop()
	b.Stop()
	for _, r := range []*lab.Router{ra, rb} {
		if m, err := r.Mappings(); err != nil || len(m) != 0 {
			t.Errorf("router %s still holds %q (%v) after its node stopped", r.Name, m, err)
		}
	}
}

// TestSymmetricFriends: two friends each behind a symmetric NAT, in a darknet with four
// public nodes: they hold no direct link, `lethe status` says so plainly, and each fetches
// what the other inserted, through the other nodes.
//
//	LETHE_LONG=1 go test ./tests/lab -run TestSymmetricFriends -v
func TestSymmetricFriends(t *testing.T) {
	if !long() {
		t.Skip("a minute long: runs with LETHE_LONG=1")
	}
	l := lab.New(t)
	bin := lab.Binary(t, "lethe/cmd/lethe")
	var hosts []*lab.Host
	for i := range 4 {
		hosts = append(hosts, l.AddPublicHost(fmt.Sprintf("p%d", i), wan))
	}
	hosts = append(hosts,
		l.AddRouter("home-a", lab.RouterConfig{NAT: lab.Symmetric, Link: wan}).AddHost("a"),
		l.AddRouter("home-b", lab.RouterConfig{NAT: lab.Symmetric, Link: wan}).AddHost("b"))
	nodes := startNodes(t, bin, hosts)
	public, a, b := nodes[:4], nodes[4], nodes[5]
	requireReach(t, a)
	ringFriends(t, public)
	lab.Befriend(t, a, b)
	for i := range 2 {
		lab.Befriend(t, a, public[i])
		lab.Befriend(t, b, public[2+i])
	}
	waitPeers(t, []*lab.Node{a, b}, 2, time.Minute)
	aID, bID := a.Ref().ID(), b.Ref().ID()
	if _, ok := waitFor(30*time.Second, func() bool {
		va, _ := readReach(a)
		vb, _ := readReach(b)
		return va.Reach.State == "unreachable" && vb.Reach.State == "unreachable"
	}); !ok {
		va, _ := readReach(a)
		vb, _ := readReach(b)
		t.Errorf("behind symmetric NATs a is %q and b is %q, want unreachable", va.Reach.State, vb.Reach.State)
	}
	if a.Linked(bID) || b.Linked(aID) {
		t.Errorf("a and b hold a direct link through two symmetric NATs (a %s link)", linkKind(a, bID))
	}
	text := statusText(t, bin, a)
	t.Logf("lethe status at a:\n%s", text)
	if !strings.Contains(text, "unreachable") {
		t.Errorf("lethe status at a does not say that a is unreachable:\n%s", text)
	}
	for _, dir := range [][2]*lab.Node{{a, b}, {b, a}} {
		data := randomFile(uint64(len(dir[0].Host.Name)), 256<<10)
		uri := insert(t, dir[0], data, "from-"+dir[0].Host.Name+".bin", 5*time.Minute)
		d, err := fetch(t, dir[1], uri, data, 5*time.Minute)
		if err != nil {
			t.Errorf("%s could not fetch what %s inserted: %v", dir[1].Host.Name, dir[0].Host.Name, err)
			continue
		}
		t.Logf("%s fetched the 256 KiB %s inserted in %v, through other nodes", dir[1].Host.Name, dir[0].Host.Name, d.Round(time.Millisecond))
	}
}
