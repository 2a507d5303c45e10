package routing

import (
	"bytes"
	"context"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/transport"
	"lethe/wire"
)

// fullLink is a transport whose one link has no room at first: a Send that may not wait is
// refused with ErrQueueFull, and one that may wait is taken, encoded as a link encodes it.
type fullLink struct{ sent chan []byte }

func (f *fullLink) Connect(context.Context, *wire.NodeRef) error { return nil }
func (f *fullLink) Disconnect(crypto.NodeID)                     {}
func (f *fullLink) Links() []transport.LinkStats                 { return nil }
func (f *fullLink) Send(ctx context.Context, _ crypto.NodeID, m wire.Message) error {
	if ctx.Err() != nil {
		return transport.ErrQueueFull
	}
	b, err := wire.Encode(m)
	if err == nil {
		f.sent <- b
	}
	return err
}

// TestCellSentLaterIsItsOwn: a tunnel cell relayed while its link is full is sent later, from
// another goroutine, after the call that received it has returned and the transport has had
// the buffer it lent back (ReceiveLent), to fill with the next message. What goes out must be
// the cell as it came in.
func TestCellSentLaterIsItsOwn(t *testing.T) {
	r := New(Config{Store: NewMemStore(0.5, 10, 10), Location: 0.5})
	f := &fullLink{sent: make(chan []byte, 1)}
	r.Start(f)
	defer r.Close()
	lent := bytes.Repeat([]byte{0xa5}, wire.TunnelBlockCellBody)
	cell := &wire.TunnelCell{Circuit: 7, Seq: 3, Body: lent}
	want, err := wire.Encode(cell)
	if err != nil {
		t.Fatal(err)
	}
	r.sendCell(crypto.NodeID{1}, cell)
	clear(lent) // the transport reuses its buffer for the next message
	select {
	case got := <-f.sent:
		if !bytes.Equal(got, want) {
			t.Fatal("the cell sent once the link had room is not the one received: its body changed with the transport's buffer")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the cell was never sent")
	}
}
