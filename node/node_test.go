package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"lethe/datastore"
	"lethe/transport"
)

// runNode makes and runs a node in dir for a test; it stops when the test ends.
func runNode(t testing.TB, dir string, edit func(*Config)) *Node {
	t.Helper()
	cfg := Config{Dir: dir, ListenAddr: "127.0.0.1:0", FCPAddr: "127.0.0.1:0", ProxyAddr: Off, Logger: testLogger(t)}
	if edit != nil {
		edit(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Run(context.Background()) }()
	<-n.Ready()
	t.Cleanup(func() {
		n.Close()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return n
}

func TestFirstRunAndRestart(t *testing.T) {
	before := runtime.NumGoroutine()
	dir := filepath.Join(t.TempDir(), "data")
	n, err := New(Config{Dir: dir, ListenAddr: "127.0.0.1:0", FCPAddr: Off, ProxyAddr: Off})
	if err != nil {
		t.Fatal(err)
	}
	if !n.Created() {
		t.Error("the first run did not create an identity")
	}
	id, loc := n.ID(), n.Router().Location()
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("data directory: %v, %v", st.Mode(), err)
	}
	if _, ok := n.Ref().Location(); !ok {
		t.Error("a darknet node's noderef has no location")
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n, err = New(Config{Dir: dir, ListenAddr: "127.0.0.1:0", FCPAddr: Off, ProxyAddr: Off})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if n.Created() || n.ID() != id || n.Router().Location() != loc {
		t.Errorf("the restarted node is not the same: created %v, same ID %v, location %v then %v", n.Created(), n.ID() == id, loc, n.Router().Location())
	}
	n.Close()
	checkGoroutines(t, before)
}

func TestNewFailsCleanly(t *testing.T) {
	dir := t.TempDir()
	a := runNode(t, dir, nil)
	// A second node on the same directory: the store is locked, and nothing is left open.
	_, err := New(Config{Dir: dir, ListenAddr: "127.0.0.1:0", FCPAddr: Off, ProxyAddr: Off})
	if !errors.Is(err, datastore.ErrLocked) {
		t.Errorf("second node on one directory: %v, want ErrLocked", err)
	}
	// A taken client-protocol address.
	_, err = New(Config{Dir: t.TempDir(), ListenAddr: "127.0.0.1:0", FCPAddr: a.FCPAddr(), ProxyAddr: Off})
	if !errors.Is(err, ErrAddrInUse) {
		t.Errorf("taken FCP address: %v, want ErrAddrInUse", err)
	}
	// An identity file others can read.
	other := t.TempDir()
	b, err := New(Config{Dir: other, ListenAddr: "127.0.0.1:0", FCPAddr: Off, ProxyAddr: Off})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	os.Chmod(filepath.Join(other, identityFile), 0o644)
	if _, err := New(Config{Dir: other, ListenAddr: "127.0.0.1:0", FCPAddr: Off, ProxyAddr: Off}); !errors.Is(err, transport.ErrIdentityPermissions) {
		t.Errorf("readable identity: %v", err)
	}
}

func TestAddFriendLinksNodes(t *testing.T) {
	a := runNode(t, t.TempDir(), nil)
	b := runNode(t, t.TempDir(), nil)
	c := runNode(t, t.TempDir(), nil)
	ctx := context.Background()
	// a has not added b yet: a darknet node refuses a node that is not its friend.
	if err := b.AddFriend(ctx, a.Ref()); err == nil {
		t.Error("a linked to b before it had added b as a friend")
	}
	// Now a adds b, who already has a as a friend: they link.
	if err := a.AddFriend(ctx, b.Ref()); err != nil {
		t.Fatal(err)
	}
	if err := c.AddFriend(ctx, a.Ref()); err == nil {
		t.Error("a took a link from c, who is not its friend")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := a.Status()
		if len(st.Peers) == 1 && st.Peers[0].ID == b.ID().String() && st.Peers[0].Friend {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a's peers: %+v", st.Peers)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, p := range a.Status().Peers {
		if p.ID == c.ID().String() {
			t.Error("a darknet node kept a link from a node that is not its friend")
		}
		if p.Link != "quic" {
			t.Errorf("friends linked over %q, want QUIC, which nodes prefer", p.Link)
		}
	}
	if r := a.Status().Reach; r.State != ReachUnknown || r.Advice == "" {
		t.Errorf("with one peer, reachability %+v; want unknown, with advice", r)
	}
	if err := a.AddFriend(ctx, a.Ref()); !errors.Is(err, ErrSelf) {
		t.Errorf("a node befriending itself: %v", err)
	}
	st, err := ReadStatus(a.Dir())
	if err != nil || !strings.Contains(st.NodeRef, "lethe-noderef v1") {
		t.Errorf("ReadStatus: %v", err)
	}
}
