package tests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/fcp"
	"lethe/node"
	"lethe/wire"
)

// A small harness for whole-network tests of `lethe node` processes: the binary is built once
// per test, each node has its own data directory and fixed loopback ports (kept across
// restarts, so that friends find it again), and the test kills or stops nodes as a user or the
// kernel would.

// buildLethe builds the lethe command into a directory the test removes.
func buildLethe(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "lethe")
	cmd := exec.Command("go", "build", "-o", bin, "lethe/cmd/lethe")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build lethe/cmd/lethe: %v\n%s", err, out)
	}
	return bin
}

// freePort returns a loopback address whose port was free a moment ago. A node keeps its
// ports across restarts, so the port is drawn below the ephemeral range (Linux gives out
// 32768–60999, other systems 49152 and up): a port the kernel handed to some process's
// outgoing connection between two starts would otherwise refuse the restart.
func freePort(tb testing.TB) string {
	tb.Helper()
	for range 200 {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(20000+rand.IntN(12000))))
		if err != nil {
			continue // taken: draw another
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}
	tb.Fatal("no free loopback port between 20000 and 32000")
	return ""
}

// procNode is one `lethe node` process and the data directory it outlives.
type procNode struct {
	tb        testing.TB
	bin, dir  string
	link, fcp string   // loopback addresses, the same at every start
	args      []string // further flags
	log       string   // the processes' stderr, appended start after start

	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	err    error         // cmd's exit; set before exited closes
	starts int
}

// newProcNode prepares a node in a new data directory under dir; start runs it.
func newProcNode(tb testing.TB, bin, dir string, args ...string) *procNode {
	tb.Helper()
	p := &procNode{tb: tb, bin: bin, dir: dir, link: freePort(tb), fcp: freePort(tb), args: args, log: dir + ".log"}
	tb.Cleanup(func() {
		if p.running() {
			p.kill()
		}
	})
	return p
}

func (p *procNode) running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// start runs the node and waits until it serves: its status file is written by this run.
func (p *procNode) start() node.Status {
	p.tb.Helper()
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		p.tb.Fatal(err)
	}
	defer logf.Close()
	p.starts++
	fmt.Fprintf(logf, "--- start %d\n", p.starts)
	args := append([]string{"node", "--dir", p.dir, "--listen", p.link, "--fcp", p.fcp, "--proxy", "off", "-v"}, p.args...)
	cmd := exec.Command(p.bin, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, logf
	cmd.SysProcAttr = procAttr()
	begun := time.Now()
	if err := cmd.Start(); err != nil {
		p.tb.Fatalf("start lethe node: %v", err)
	}
	p.cmd, p.exited = cmd, make(chan struct{})
	exited := p.exited
	go func() {
		p.err = cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := node.ReadStatus(p.dir)
		if err == nil && !st.Started.Before(begun.Add(-time.Second)) && st.Time.After(begun) && st.ID != "" {
			return st
		}
		select {
		case <-exited:
			p.tb.Fatalf("lethe node in %s exited at start: %v\n%s", p.dir, p.err, p.tail())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.tb.Fatalf("lethe node in %s not serving after 20 s\n%s", p.dir, p.tail())
		}
	}
}

// kill ends the process with SIGKILL, as a crash or the OOM killer would, and waits for it.
func (p *procNode) kill() {
	p.tb.Helper()
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// stop ends the process with SIGTERM and waits until it has stopped cleanly.
func (p *procNode) stop() {
	p.tb.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(45 * time.Second): // the drain time of inserts is 30 s
		p.kill()
		p.tb.Fatalf("lethe node in %s still running 45 s after SIGTERM\n%s", p.dir, p.tail())
	}
	if p.err != nil {
		p.tb.Fatalf("lethe node in %s stopped with %v after SIGTERM\n%s", p.dir, p.err, p.tail())
	}
}

// status reads the running node's status file.
func (p *procNode) status() node.Status {
	p.tb.Helper()
	st, err := node.ReadStatus(p.dir)
	if err != nil {
		p.tb.Fatalf("status of the node in %s: %v", p.dir, err)
	}
	return st
}

// tail is the end of the node's log, for failure messages.
func (p *procNode) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// client connects to the node's client protocol; the connection closes with the test.
func (p *procNode) client() *fcp.Client {
	p.tb.Helper()
	return dialFCP(p.tb, p.fcp)
}

func dialFCP(tb testing.TB, addr string) *fcp.Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := fcp.Dial(ctx, addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	if _, err := c.Hello(ctx, "tests-"+strconv.FormatInt(time.Now().UnixNano(), 36)); err != nil {
		tb.Fatal(err)
	}
	return c
}

// startProcNet starts n nodes under dir and makes every pair friends (a complete graph, so
// that any node's loss leaves the others linked), and waits until all links are up. Each node
// runs once alone to make its identity and noderef, as a user's first run does; with the
// friends files written, the nodes dial each other as they start.
func startProcNet(tb testing.TB, bin, dir string, n int, args ...string) []*procNode {
	tb.Helper()
	nodes := make([]*procNode, n)
	refs := make([]*wire.NodeRef, n)
	ids := make([]crypto.NodeID, n)
	for i := range nodes {
		nodes[i] = newProcNode(tb, bin, filepath.Join(dir, fmt.Sprintf("node-%02d", i)), args...)
		st := nodes[i].start()
		nodes[i].stop()
		ref, err := wire.ParseNodeRef(st.NodeRef)
		if err != nil {
			tb.Fatalf("node %d's noderef: %v", i, err)
		}
		refs[i], ids[i] = ref, ref.ID()
	}
	for i, p := range nodes {
		var friends []*wire.NodeRef
		for j, r := range refs {
			if j != i {
				friends = append(friends, r)
			}
		}
		if _, err := node.AddFriend(p.dir, ids[i], friends...); err != nil {
			tb.Fatal(err)
		}
	}
	for _, p := range nodes {
		p.start()
	}
	for _, p := range nodes {
		p.waitLinked(n - 1)
	}
	return nodes
}

// waitLinked waits until the node's status shows want peers with known locations.
func (p *procNode) waitLinked(want int) node.Status {
	p.tb.Helper()
	deadline := time.Now().Add(40 * time.Second) // a friend not linked is dialled every 10 s
	for {
		st, err := node.ReadStatus(p.dir)
		if err == nil {
			linked := 0
			for _, peer := range st.Peers {
				if peer.Location >= 0 {
					linked++
				}
			}
			if linked >= want {
				return st
			}
		}
		if time.Now().After(deadline) {
			p.tb.Fatalf("node in %s has not linked to %d peers in 40 s (status: %v, %v)\n%s", p.dir, want, st.Peers, err, p.tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// acked is a file whose insert the network acknowledged (PutSuccessful).
type acked struct {
	uri  crypto.RequestURI
	sum  [sha256.Size]byte
	size int
	at   int // the node it was inserted at
}

// ackLog collects acknowledged inserts from many goroutines.
type ackLog struct {
	mu    sync.Mutex
	files []acked
}

func (l *ackLog) add(a acked) {
	l.mu.Lock()
	l.files = append(l.files, a)
	l.mu.Unlock()
}

func (l *ackLog) list() []acked {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]acked(nil), l.files...)
}

// tryPut inserts data and reports whether the node acknowledged it; a failure is not the
// test's failure (the node may be killed under it).
func tryPut(ctx context.Context, c *fcp.Client, data []byte, name string) (crypto.RequestURI, error) {
	return c.Put(ctx, fcp.PutRequest{URI: crypto.InsertURI{Type: crypto.CHK}, TargetFilename: name, Data: bytes.NewReader(data), DataLength: int64(len(data))}, nil)
}

// fetchVerified fetches an acknowledged file and fails the test if it does not come back
// byte for byte; it reports whether it did.
func fetchVerified(tb testing.TB, c *fcp.Client, a acked, where string) bool {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := sha256.New()
	var n countWriter
	if _, err := c.Get(ctx, fcp.GetRequest{URI: a.uri, MaxSize: 1 << 30}, io.MultiWriter(h, &n), nil); err != nil {
		tb.Errorf("%s: fetch of %v (%d bytes, acknowledged at node %d): %v", where, a.uri, a.size, a.at, err)
		return false
	}
	if !bytes.Equal(h.Sum(nil), a.sum[:]) || int(n) != a.size {
		tb.Errorf("%s: %v came back as %d bytes that differ from the %d inserted", where, a.uri, n, a.size)
		return false
	}
	return true
}

// errIsKill reports whether err is how a process killed by SIGKILL exits.
func errIsKill(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}
