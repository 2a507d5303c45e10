package transport_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"lethe/crypto"
	"lethe/transport"
	"lethe/wire"
)

// storer is a routing layer in miniature: it answers every request with the block it holds
// and hands replies to whoever waits for them.
type storer struct {
	tr      transport.Transport
	block   []byte
	replies chan *wire.DataReply
}

func (s *storer) PeerUp(p transport.Peer)              {}
func (s *storer) PeerDown(id crypto.NodeID, err error) {}

// Receive runs on the link's reader goroutine; it answers without waiting (the queue has
// room or the reply is dropped, as a router would answer RejectedOverload).
func (s *storer) Receive(from crypto.NodeID, m wire.Message) {
	switch m := m.(type) {
	case *wire.Request:
		done, cancel := context.WithCancel(context.Background())
		cancel()
		s.tr.Send(done, from, &wire.DataReply{KeyType: crypto.CHK, ID: m.ID, Block: s.block})
	case *wire.DataReply:
		s.replies <- m
	}
}

// Two nodes on loopback exchange a request and its data reply over a TLS link.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	newNode := func(block []byte) (*transport.TCP, *storer) {
		id, _ := crypto.GenerateNodeIdentity(rand.Reader)
		s := &storer{block: block, replies: make(chan *wire.DataReply, 1)}
		tr, err := transport.New(transport.Config{Identity: id, ListenAddr: "127.0.0.1:0", Handler: s})
		if err != nil {
			panic(err)
		}
		s.tr = tr
		go tr.Run(ctx)
		return tr, s
	}
	block, key, _ := crypto.EncodeCHK(rand.Reader, []byte("hello, Lethe"))
	alice, aliceRouter := newNode(nil)
	bob, _ := newNode(block)
	defer alice.Close()
	defer bob.Close()

	if err := alice.Connect(ctx, bob.Ref()); err != nil {
		panic(err)
	}
	req := &wire.Request{KeyType: crypto.CHK, ID: 7, HTL: wire.MaxHTL, Key: key.Routing, Timeout: time.Minute}
	if err := alice.Send(ctx, bob.Ref().ID(), req); err != nil {
		panic(err)
	}
	reply := <-aliceRouter.replies
	payload, err := crypto.DecodeCHK(key, reply.Block)
	fmt.Printf("reply %d: %q, %v\n", reply.ID, payload, err)
	// Output: reply 7: "hello, Lethe", <nil>
}
