//go:build linux

package lab

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/fcp"
	"lethe/node"
	"lethe/tests/lab/netns"
	"lethe/wire"
)

// Node ports, the same on every host: each host is a machine of its own.
const (
	LinkPort  = 41000
	FCPAddr   = "127.0.0.1:9481"
	ProxyAddr = "127.0.0.1:8888"
)

// Node is a `lethe node` process on a lab host, and the data directory it outlives.
type Node struct {
	Host *Host
	Dir  string
	Proc *Proc // the last run

	bin   string
	args  []string
	runs  int
	begun time.Time // when the last run was launched
}

// NewNode prepares a node on the host with the lethe program bin (lab.Binary(t,
// "lethe/cmd/lethe")) and further flags of `lethe node`; Start runs it. It listens on
// LinkPort of every address of the host, and says in its noderef what the node finds to say,
// as a user's node does.
func (h *Host) NewNode(bin string, args ...string) *Node {
	return &Node{Host: h, Dir: filepath.Join(h.lab.dir, h.Name+"-node"), bin: bin, args: args}
}

// Start runs the node and waits until it serves: its status file is written by this run.
func (n *Node) Start() node.Status {
	n.Host.lab.tb.Helper()
	n.Launch()
	return n.WaitServing()
}

// Launch runs the node without waiting for it; WaitServing waits. Many nodes start faster
// launched together.
func (n *Node) Launch() {
	l := n.Host.lab
	l.tb.Helper()
	n.runs++
	args := append([]string{n.bin, "node", "--dir", n.Dir, "--listen", fmt.Sprintf(":%d", LinkPort),
		"--fcp", FCPAddr, "--proxy", ProxyAddr, "-v"}, n.args...)
	n.begun = time.Now()
	n.Proc = l.start(n.Host.NS, n.Host.Name+"-node", args...)
}

// WaitServing waits until the launched node serves: its status file is written by this run.
func (n *Node) WaitServing() node.Status {
	l := n.Host.lab
	l.tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := node.ReadStatus(n.Dir)
		if err == nil && st.ID != "" && !st.Started.Before(n.begun.Add(-time.Second)) && st.Time.After(n.begun) {
			return st
		}
		select {
		case <-n.Proc.Exited():
			l.tb.Fatalf("lethe node on %s exited at start: %v\n%s", n.Host.Name, n.Proc.Err(), n.Proc.Tail(4096))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			l.tb.Fatalf("lethe node on %s not serving after 60 s\n%s", n.Host.Name, n.Proc.Tail(4096))
		}
	}
}

// Stop ends the node with SIGTERM, as Ctrl-C would, and fails the test if it does not stop
// cleanly within 45 s (inserts drain for 30 s).
func (n *Node) Stop() {
	l := n.Host.lab
	l.tb.Helper()
	if !n.Proc.Stop(45 * time.Second) {
		l.tb.Fatalf("lethe node on %s still running 45 s after SIGTERM\n%s", n.Host.Name, n.Proc.Tail(4096))
	}
	if err := n.Proc.Err(); err != nil {
		l.tb.Fatalf("lethe node on %s stopped with %v\n%s", n.Host.Name, err, n.Proc.Tail(4096))
	}
}

// Kill ends the node with SIGKILL.
func (n *Node) Kill() { n.Proc.Signal(syscall.SIGKILL); <-n.Proc.Exited() }

// Status reads the running node's status file.
func (n *Node) Status() (node.Status, error) { return node.ReadStatus(n.Dir) }

// Ref is the node's noderef, as its status file has it.
func (n *Node) Ref() *wire.NodeRef {
	n.Host.lab.tb.Helper()
	st, err := n.Status()
	if err != nil {
		n.Host.lab.tb.Fatalf("status of the node on %s: %v", n.Host.Name, err)
	}
	ref, err := wire.ParseNodeRef(st.NodeRef)
	if err != nil {
		n.Host.lab.tb.Fatalf("noderef of the node on %s: %v", n.Host.Name, err)
	}
	return ref
}

// Befriend makes the nodes friends of each other, as their users would with `lethe peers
// add`: each node's friends file gets the others' noderefs, and the running nodes pick them
// up within seconds.
func Befriend(tb testing.TB, nodes ...*Node) {
	tb.Helper()
	refs := make([]*wire.NodeRef, len(nodes))
	for i, n := range nodes {
		refs[i] = n.Ref()
	}
	for i, n := range nodes {
		var others []*wire.NodeRef
		for j, r := range refs {
			if j != i {
				others = append(others, r)
			}
		}
		if _, err := node.AddFriend(n.Dir, refs[i].ID(), others...); err != nil {
			tb.Fatal(err)
		}
	}
}

// Linked reports whether the node's status shows a link to the node with ID id, up with its
// location known.
func (n *Node) Linked(id crypto.NodeID) bool {
	st, err := n.Status()
	if err != nil {
		return false
	}
	for _, p := range st.Peers {
		if p.ID == id.String() && p.Location >= 0 {
			return true
		}
	}
	return false
}

// Peers is the number of the node's peers whose links are up with their locations known.
func (n *Node) Peers() int {
	st, err := n.Status()
	if err != nil {
		return 0
	}
	c := 0
	for _, p := range st.Peers {
		if p.Location >= 0 {
			c++
		}
	}
	return c
}

// Client connects to the node's client protocol from inside its host; the connection closes
// when the test ends.
func (n *Node) Client(tb testing.TB) *fcp.Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var c *fcp.Client
	err := netns.Do(n.Host.Path(), func() (err error) {
		c, err = fcp.Dial(ctx, FCPAddr)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	if _, err := c.Hello(ctx, "lab-"+strconv.FormatInt(time.Now().UnixNano(), 36)); err != nil {
		tb.Fatal(err)
	}
	return c
}

// HTTPClient is an HTTP client whose connections start inside the node's host, for its
// browsing proxy at http://127.0.0.1:8888/.
func (n *Node) HTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: n.Host.DialContext, DisableKeepAlives: true}}
}
