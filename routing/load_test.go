package routing

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// acceptAll answers every request and insert with Accepted and nothing more, so that what a
// node forwards to it stays in progress there.
func acceptAll(p *rawPeer, from crypto.NodeID, m wire.Message) {
	switch m := m.(type) {
	case *wire.Request:
		p.t.Send(context.Background(), from, &wire.Accepted{ID: m.ID})
	case *wire.Insert:
		p.t.Send(context.Background(), from, &wire.Accepted{ID: m.ID})
	}
}

func isRequest(m wire.Message) bool {
	_, ok := m.(*wire.Request)
	return ok
}

// answers drains p's inbox and returns the type of the last answer to each of ids.
func answers(p *rawPeer, ids map[uint64]bool) map[uint64]wire.Type {
	out := map[uint64]wire.Type{}
	for len(p.got) > 0 {
		r := <-p.got
		if id, ok := idOf(r.m); ok && ids[id] && !isRequest(r.m) {
			out[id] = r.m.Type()
		}
	}
	return out
}

// sendRequests sends n requests for random keys from p to node n, IDs from base.
func sendRequests(t *testing.T, p *rawPeer, n *testNode, count int, base uint64) map[uint64]bool {
	ids := map[uint64]bool{}
	for i := range count {
		_, key := randomCHK(t)
		id := base + uint64(i)
		ids[id] = true
		p.send(t, n, &wire.Request{KeyType: crypto.CHK, ID: id, HTL: 10, Key: key.Routing, Timeout: time.Minute})
	}
	settle()
	return ids
}

// TestPeerShare: a peer may have only its share of the node's work in progress, busy or not,
// so that a burst from one peer cannot take the whole node before any sign of congestion;
// another peer is served at the same moment.
func TestPeerShare(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestNet(t, []crypto.Location{0.2}, func(i int, c *Config) { c.Tuning.MaxActive = 400 })
		tn.addRaw("holder", 0.5, acceptAll, 0)
		flooder := tn.addRaw("flooder", 0.9, acceptAll, 0)
		honest := tn.addRaw("honest", 0.7, acceptAll, 0)
		settle()
		r := tn.nodes[0].r
		r.load.Lock()
		share := r.peerShareLocked()
		r.load.Unlock()
		if share != 2*fairShare {
			t.Fatalf("share with MaxActive 400 and 3 peers is %d, want %d", share, 2*fairShare)
		}
		got := answers(flooder, sendRequests(t, flooder, tn.nodes[0], share+8, 1000))
		accepted, refused := 0, 0
		for _, typ := range got {
			switch typ {
			case wire.TypeAccepted:
				accepted++
			case wire.TypeRejectedOverload:
				refused++
			}
		}
		if accepted != share || refused != 8 {
			t.Errorf("flooder's %d requests: %d accepted, %d refused; want %d and 8", share+8, accepted, refused, share)
		}
		if st := r.Stats(); st.Active != share {
			t.Errorf("node has %d requests in progress, want the flooder's %d", st.Active, share)
		}
		for id, typ := range answers(honest, sendRequests(t, honest, tn.nodes[0], 4, 5000)) {
			if typ != wire.TypeAccepted {
				t.Errorf("honest peer's request %d while the flooder holds its share: %v, want Accepted", id, typ)
			}
		}
	})
}

// TestAwaitingCap: a peer that stops answering gets at most MaxAwaiting messages before it
// has answered one; the requests a relay could send nowhere else wait relayWait at most and
// are answered RejectedOverload, instead of each waiting out AcceptTimeout at the silent peer.
func TestAwaitingCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestNet(t, []crypto.Location{0.2}, nil)
		silent := tn.addRaw("silent", 0.5, nil, 0)
		asker := tn.addRaw("asker", 0.9, nil, 0)
		settle()
		ids := sendRequests(t, asker, tn.nodes[0], 20, 1)
		sent := 0
		for len(silent.got) > 0 {
			if isRequest((<-silent.got).m) {
				sent++
			}
		}
		if sent != defaultMaxAwaiting {
			t.Errorf("the silent peer was sent %d requests before answering any, want %d", sent, defaultMaxAwaiting)
		}
		time.Sleep(relayWait + 100*time.Millisecond)
		settle()
		refused := 0
		for _, typ := range answers(asker, ids) {
			if typ == wire.TypeRejectedOverload {
				refused++
			}
		}
		if want := 20 - defaultMaxAwaiting; refused != want {
			t.Errorf("%d requests answered RejectedOverload after relayWait, want %d", refused, want)
		}
	})
}

// TestOwnRetry: the node's own request, refused for load by every stem peer, goes round them
// again after a pause under a fresh ID and gets its block; one that found no route fails at
// once.
func TestOwnRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		block, key := randomCHK(t)
		var seen []uint64
		busyOnce := func(p *rawPeer, from crypto.NodeID, m wire.Message) {
			req, ok := m.(*wire.Request)
			if !ok {
				return
			}
			seen = append(seen, req.ID)
			if len(seen) == 1 {
				p.t.Send(context.Background(), from, &wire.RejectedOverload{ID: req.ID})
				return
			}
			p.t.Send(context.Background(), from, &wire.DataReply{KeyType: crypto.CHK, ID: req.ID, Block: block})
		}
		tn := newTestNet(t, []crypto.Location{0.2}, nil)
		tn.addRaw("busy once", 0.5, busyOnce, 0)
		settle()
		start := time.Now()
		got, err := tn.nodes[0].r.GetBlock(context.Background(), crypto.CHK, key.Routing)
		if err != nil {
			t.Fatalf("own request after one overload: %v", err)
		}
		if string(got) != string(block) {
			t.Fatal("own request returned another block")
		}
		if len(seen) != 2 || seen[0] == seen[1] {
			t.Errorf("the peer saw request IDs %v, want two different", seen)
		}
		if waited := time.Since(start); waited < ownRetryPause/2 {
			t.Errorf("went round again after %v, want a pause of at least %v", waited, ownRetryPause/2)
		}

		// A route that was not found is not looked for again: after the stem peer's
		// RouteNotFound the node searches below the stem itself, as a relay would (it asks
		// the peer again, under another ID at a lower HTL), and there is no second round.
		var asked []uint8
		noRoute := func(p *rawPeer, from crypto.NodeID, m wire.Message) {
			if req, ok := m.(*wire.Request); ok {
				asked = append(asked, req.HTL)
				p.t.Send(context.Background(), from, &wire.RouteNotFound{ID: req.ID, HTL: 10})
			}
		}
		tn2 := newTestNet(t, []crypto.Location{0.3}, nil)
		tn2.addRaw("no route", 0.6, noRoute, 0)
		settle()
		_, key2 := randomCHK(t)
		if _, err := tn2.nodes[0].r.GetBlock(context.Background(), crypto.CHK, key2.Routing); !errors.Is(err, ErrRouteNotFound) {
			t.Errorf("own request answered RouteNotFound: %v, want ErrRouteNotFound", err)
		}
		time.Sleep(time.Minute)
		settle()
		if len(asked) != 2 || asked[0] < wire.MaxHTL-1 || asked[1] >= wire.MaxHTL-1 {
			t.Errorf("the peer that found no route was asked at HTLs %v, want once on the stem and once below it", asked)
		}
	})
}

// TestRepliesWaitForSlowLink: the data answering a request waits for room on a link that is
// slower than the blocks coming back over it, as long as the request may run, instead of
// being dropped after a moment and leaving the requester to wait out its whole timeout. The
// asker here reads nothing for 5 s while 64 blocks (2 MiB, twice the link's queue) come back.
func TestRepliesWaitForSlowLink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestNet(t, []crypto.Location{0.2}, nil)
		var once sync.Once
		asker := tn.addRaw("asker", 0.9, func(p *rawPeer, from crypto.NodeID, m wire.Message) {
			if _, ok := m.(*wire.DataReply); ok {
				once.Do(func() { time.Sleep(5 * time.Second) })
			}
		}, 0)
		settle()
		ids := map[uint64]bool{}
		for i := range 64 {
			block, key := randomCHK(t)
			if err := tn.nodes[0].store.Store(crypto.CHK, key.Routing, block); err != nil {
				t.Fatal(err)
			}
			id := uint64(1000 + i)
			ids[id] = true
			asker.send(t, tn.nodes[0], &wire.Request{KeyType: crypto.CHK, ID: id, HTL: 10, Key: key.Routing, Timeout: time.Minute})
		}
		time.Sleep(10 * time.Second)
		settle()
		got := 0
		for _, typ := range answers(asker, ids) {
			if typ == wire.TypeCHKDataReply {
				got++
			}
		}
		if got != 64 {
			t.Errorf("%d of 64 blocks came back over a link that was slow for 5 s", got)
		}
	})
}
