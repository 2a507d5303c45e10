package transport

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// counter is a Handler that only counts, as a simulator's would be cheap.
type counter struct{ ups, msgs, downs atomic.Int64 }

func (c *counter) PeerUp(Peer)                         { c.ups.Add(1) }
func (c *counter) Receive(crypto.NodeID, wire.Message) { c.msgs.Add(1) }
func (c *counter) PeerDown(crypto.NodeID, error)       { c.downs.Add(1) }

// The in-memory network holds thousands of nodes with twenty links each in little memory and
// no goroutine per link: idle, it runs no goroutines at all. LETHE_LONG=1 runs the full
// 10,000 nodes of the routing simulator.
func TestMemNetworkScale(t *testing.T) {
	checkLeaks(t)
	nodes, degree := 1000, 20
	if os.Getenv("LETHE_LONG") != "" {
		nodes = 10000
	}
	refs := make([]*wire.NodeRef, nodes)
	for i := range refs {
		var seed [32]byte
		binary.BigEndian.PutUint64(seed[:], uint64(i))
		ref, err := wire.NewNodeRef(crypto.NewNodeIdentity(sha256.Sum256(seed[:])), wire.NodeRefInfo{Location: crypto.Location(float64(i) / float64(nodes)), WithLocation: true})
		if err != nil {
			t.Fatal(err)
		}
		refs[i] = ref
	}
	goroutinesBefore := runtime.NumGoroutine()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	network := NewMemNetwork()
	var c counter
	members := make([]*MemNode, nodes)
	for i, ref := range refs {
		m, err := network.Join(MemConfig{Ref: ref, Handler: &c})
		if err != nil {
			t.Fatal(err)
		}
		members[i] = m
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i, m := range members {
		for range degree / 2 { // each node dials half its links; the others dial it
			j := rng.IntN(nodes)
			if j == i {
				continue
			}
			if err := m.Connect(context.Background(), refs[j]); err != nil {
				t.Fatal(err)
			}
		}
	}
	links := 0
	for _, m := range members {
		links += len(m.Links())
	}
	links /= 2
	waitFor(t, func() bool { return c.ups.Load() == int64(2*links) })
	if n := runtime.NumGoroutine(); n > goroutinesBefore+2 {
		t.Errorf("%d goroutines for %d idle links", n-goroutinesBefore, links)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	perLink := float64(after.HeapAlloc-before.HeapAlloc) / float64(links)
	t.Logf("%d nodes, %d links: %.0f bytes of heap per link, nodes included", nodes, links, perLink)
	if perLink > 2048 {
		t.Errorf("%.0f bytes per link, want at most 2 KiB", perLink)
	}

	// A message from every node to one of its peers arrives.
	sent := 0
	for _, m := range members {
		for _, l := range m.Links()[:1] {
			if err := m.Send(context.Background(), l.ID, &wire.Accepted{ID: 1}); err != nil {
				t.Fatal(err)
			}
			sent++
		}
	}
	waitFor(t, func() bool { return c.msgs.Load() == int64(sent) })
	for _, m := range members {
		m.Close()
	}
	if got := c.downs.Load(); got != c.ups.Load() {
		t.Errorf("%d PeerDown for %d PeerUp", got, c.ups.Load())
	}
}

func waitFor(tb testing.TB, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatal("condition not reached within 20s")
		}
		time.Sleep(time.Millisecond)
	}
}

// The in-memory transport works inside a synctest bubble: time-dependent logic built on it
// (request timeouts, waiting on a full queue) runs in fake time, without sleeps.
func TestMemNetworkInSynctest(t *testing.T) {
	checkLeaks(t)
	synctest.Test(t, func(t *testing.T) {
		network := NewMemNetwork()
		hold := make(chan struct{})
		a := newMemNode(t, network, "a", nodeOptions{limits: Limits{MaxQueuedBytes: wire.MaxMessageSize}})
		b := newMemNode(t, network, "b", nodeOptions{reply: func(*node, crypto.NodeID, wire.Message) { <-hold }})
		if err := a.Connect(context.Background(), b.ref); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if len(a.rec.events) != 1 || len(b.rec.events) != 1 {
			t.Fatalf("PeerUp not delivered at both ends: %d, %d events", len(a.rec.events), len(b.rec.events))
		}

		// b holds the first message; a second one waits for room until its deadline, which
		// passes in fake time.
		reply := &wire.DataReply{KeyType: crypto.CHK, Block: chkBlock("x")}
		if err := a.Send(context.Background(), b.id, reply); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.Send(ctx, b.id, reply); !errors.Is(err, ErrQueueFull) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Send to a full queue: %v", err)
		}
		if waited := time.Since(start); waited != 30*time.Second {
			t.Errorf("waited %v of fake time, want 30s", waited)
		}
		close(hold)
		synctest.Wait()
		if err := a.Send(ctx, b.id, &wire.Accepted{}); err != nil {
			t.Errorf("after b read: %v", err)
		}
	})
}

// A node refused by the other's policy does not link.
func TestMemAcceptPeer(t *testing.T) {
	checkLeaks(t)
	network := NewMemNetwork()
	a := newMemNode(t, network, "a", nodeOptions{})
	b := newMemNode(t, network, "b", nodeOptions{accept: func(p Peer) error { return errors.New("strangers not welcome") }})
	if err := a.Connect(context.Background(), b.ref); !errors.Is(err, ErrRefused) {
		t.Fatalf("Connect to a refusing node: %v, want ErrRefused", err)
	}
	if len(a.Links())+len(b.Links()) != 0 {
		t.Error("a link came up")
	}
}
