package transport

import (
	"context"
	"errors"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// Both transports behave alike for the routing layer: links come up with the peer's noderef,
// messages arrive intact and counted, and Disconnect takes the link down at both ends.
func TestLinkExchange(t *testing.T) {
	for _, kind := range linkKinds {
		t.Run(kind, func(t *testing.T) {
			checkLeaks(t)
			block := chkBlock("block ")
			key := crypto.RoutingKey{7}
			a, b := pairOver(t, kind, nodeOptions{}, nodeOptions{reply: func(b *node, from crypto.NodeID, m wire.Message) {
				if req, ok := m.(*wire.Request); ok {
					b.Send(context.Background(), from, &wire.DataReply{KeyType: crypto.CHK, ID: req.ID, Block: block})
				}
			}})
			req := &wire.Request{KeyType: crypto.CHK, ID: 42, HTL: 10, Key: key, Timeout: time.Minute}
			if err := a.Send(context.Background(), b.id, req); err != nil {
				t.Fatal(err)
			}
			got := b.rec.next(t, "msg")
			if got.from != a.id || got.msg.(*wire.Request).Key != key {
				t.Fatalf("b received %+v from %v", got.msg, got.from.Short())
			}
			reply := a.rec.next(t, "msg").msg.(*wire.DataReply)
			if reply.ID != 42 || string(reply.Block) != string(block) {
				t.Fatalf("a received reply %d with a different block", reply.ID)
			}
			for _, n := range []*node{a, b} {
				ls := n.Links()
				if len(ls) != 1 || ls[0].MessagesIn != 1 || ls[0].MessagesOut != 1 || ls[0].BytesIn == 0 || ls[0].BytesOut == 0 {
					t.Errorf("link counters %+v", ls)
				}
			}
			a.Disconnect(b.id)
			if ev := a.rec.next(t, "down"); ev.from != b.id || !errors.Is(ev.err, ErrDisconnected) {
				t.Errorf("a: PeerDown(%v, %v)", ev.from.Short(), ev.err)
			}
			if ev := b.rec.next(t, "down"); ev.from != a.id || !errors.Is(ev.err, ErrPeerClosed) {
				t.Errorf("b: PeerDown(%v, %v), want ErrPeerClosed", ev.from.Short(), ev.err)
			}
			if err := a.Send(context.Background(), b.id, req); !errors.Is(err, ErrNotConnected) {
				t.Errorf("Send after Disconnect: %v, want ErrNotConnected", err)
			}
		})
	}
}
