package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// tap is a TCP relay on loopback that records every byte passing through it, as a passive
// observer of a link would see them.
type tap struct {
	ln       net.Listener
	mu       sync.Mutex
	captured bytes.Buffer // guarded by mu
	conns    []net.Conn   // guarded by mu
	wg       sync.WaitGroup
}

func newTap(tb testing.TB, target string) *tap {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tp := &tap{ln: ln}
	tp.wg.Add(1)
	go func() {
		defer tp.wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			tp.mu.Lock()
			tp.conns = append(tp.conns, in, out)
			tp.mu.Unlock()
			tp.wg.Add(2)
			go tp.relay(out, in)
			go tp.relay(in, out)
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		tp.mu.Lock()
		for _, c := range tp.conns {
			c.Close()
		}
		tp.mu.Unlock()
		tp.wg.Wait()
	})
	return tp
}

func (tp *tap) relay(dst, src net.Conn) {
	defer tp.wg.Done()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			tp.mu.Lock()
			tp.captured.Write(buf[:n])
			tp.mu.Unlock()
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (tp *tap) bytes() []byte {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return bytes.Clone(tp.captured.Bytes())
}

// Everything a link carries is encrypted: the captured stream contains none of the
// plaintext sent, neither the blocks nor the noderefs nor the node identities.
func TestCapturedLinkHasNoPlaintext(t *testing.T) {
	checkLeaks(t)
	a := newTCPNode(t, "a", nodeOptions{})
	b := newTCPNode(t, "b", nodeOptions{})
	tp := newTap(t, b.tcp.Addr())
	viaTap, err := wire.NewNodeRef(testIdentity(t, "b"), wire.NodeRefInfo{Addresses: []string{tp.ln.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Connect(ctxTimeout(t, 5*time.Second), viaTap); err != nil {
		t.Fatal(err)
	}
	b.rec.next(t, "up")
	marker := "LETHE-PLAINTEXT-MARKER-"
	key := crypto.RoutingKey([]byte("ROUTING-KEY-IN-THE-CLEAR-0123456"))
	msgs := []wire.Message{
		&wire.DataReply{KeyType: crypto.CHK, ID: 1, Block: chkBlock(marker)},
		&wire.Request{KeyType: crypto.CHK, ID: 2, HTL: 18, Key: key, Timeout: time.Minute},
		&wire.NodeRefOffer{ID: 3, Ref: a.ref},
	}
	for _, m := range msgs {
		if err := a.Send(context.Background(), b.id, m); err != nil {
			t.Fatal(err)
		}
		b.rec.next(t, "msg")
	}
	captured := tp.bytes()
	if len(captured) < crypto.CHKBlockSize {
		t.Fatalf("captured only %d bytes", len(captured))
	}
	for name, secret := range map[string][]byte{
		"block":       []byte(marker),
		"routing key": key[:16],
		"noderef":     []byte("lethe-noderef"),
		"a's node ID": a.id[:16],
		"b's node ID": b.id[:16],
		"a's ID text": []byte(a.id.String()[:16]),
	} {
		if bytes.Contains(captured, secret) {
			t.Errorf("the captured link bytes contain the %s", name)
		}
	}
}

// A small message sent behind a run of 32 KiB replies that fill the queue is queued at once
// and overtakes them: it waits for at most one large frame, not for the whole transfer. The receiver holds its first message until
// the sender's queue is full, so that the order is decided by the queue, not by timing.
func TestSmallMessagesOvertakeBlocks(t *testing.T) {
	checkLeaks(t)
	release := make(chan struct{})
	var once sync.Once
	hold := func(n *node, from crypto.NodeID, m wire.Message) { once.Do(func() { <-release }) }
	a, b := pair(t, true, nodeOptions{}, nodeOptions{reply: hold})
	done, cancel := context.WithCancel(context.Background())
	cancel()
	reply := &wire.DataReply{KeyType: crypto.CHK, Block: chkBlock("bulk")}
	sent := 0
	for ; ; sent++ {
		reply.ID = uint64(sent)
		if err := a.Send(done, b.id, reply); errors.Is(err, ErrQueueFull) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	encoded, _ := wire.Encode(reply)
	queued := a.Links()[0].Queued / len(encoded)
	// The small message has room of its own: it is queued at once, without waiting for the
	// replies to drain.
	req := &wire.Request{KeyType: crypto.CHK, ID: 1 << 40, HTL: 1, Key: crypto.RoutingKey{1}, Timeout: time.Second}
	if err := a.Send(done, b.id, req); err != nil {
		t.Fatalf("a request behind a full queue of replies: %v, want it queued at once", err)
	}
	close(release)
	after := -1
	for range sent + 1 {
		m := b.rec.next(t, "msg").msg
		if _, ok := m.(*wire.Request); ok {
			after = 0
		} else if after >= 0 {
			after++
		}
	}
	t.Logf("%d replies sent, %d of them in the queue with the request, which overtook %d", sent, queued, after)
	if queued < 10 || after < queued-1 {
		t.Errorf("the request overtook %d of the %d replies queued before it", after, queued)
	}
}

// TestLentBuffersHoldTheirBlocks sends blocks to a Borrower that keeps several unreleased
// while more arrive: each block it holds must stay as it was sent until it releases it (the
// link never receives into a lent buffer), and the blocks after a release, received into the
// buffers given back, arrive whole.
func TestLentBuffersHoldTheirBlocks(t *testing.T) {
	for _, kind := range []string{"tcp", "quic"} {
		t.Run(kind, func(t *testing.T) {
			checkLeaks(t)
			a, b := pairOver(t, kind, nodeOptions{}, nodeOptions{borrow: true})
			ctx := ctxTimeout(t, 30*time.Second)
			const blocks, held = 64, 8
			block := func(i int) []byte { return chkBlock(fmt.Sprintf("block %d;", i)) }
			sent := make(chan error, 1)
			go func() {
				for i := range blocks {
					m := &wire.Insert{KeyType: crypto.CHK, ID: uint64(i), HTL: 10, Key: crypto.RoutingKey{byte(i)}, Timeout: time.Second, Block: block(i)}
					if err := a.Send(ctx, b.id, m); err != nil {
						sent <- fmt.Errorf("send %d: %w", i, err)
						return
					}
				}
				sent <- nil
			}()
			var window []event
			for i := range blocks {
				ev := b.rec.next(t, "msg")
				m, ok := ev.msg.(*wire.Insert)
				if !ok || ev.release == nil {
					t.Fatalf("message %d: %T lent: %v, want an insert with its buffer lent", i, ev.msg, ev.release != nil)
				}
				if !bytes.Equal(m.Block, block(int(m.ID))) {
					t.Fatalf("insert %d arrived with another block", m.ID)
				}
				window = append(window, ev)
				keep := held / 2
				if i == blocks-1 {
					keep = 0
				}
				if len(window) > held || keep == 0 {
					for _, old := range window[:len(window)-keep] {
						om := old.msg.(*wire.Insert)
						if !bytes.Equal(om.Block, block(int(om.ID))) {
							t.Fatalf("insert %d's block changed while its buffer was lent, %d messages later", om.ID, i-int(om.ID))
						}
						old.release()
					}
					window = slices.Delete(window, 0, len(window)-keep)
				}
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSendQueueOrder(t *testing.T) {
	var q sendQueue
	big := bytes.Repeat([]byte{1}, 32797) // a CHK DataReply: three frames
	small := []byte{byte(wire.TypeAccepted), 0, 0, 0, 0, 0, 0, 0, 9}
	q.push(big)
	var frames [][]byte
	take := func() {
		out := q.next(nil, 1, laneSmall|laneLarge) // one frame
		frames = append(frames, out)
	}
	take()
	q.push(small)
	take()
	take()
	take()
	if !q.empty() || q.bytes != 0 {
		t.Fatalf("queue not empty after four frames: %d bytes", q.bytes)
	}
	want := []struct {
		size int
		kind byte
	}{{largeFrameSize, kindFirst}, {smallFrameSize, kindWhole}, {largeFrameSize, kindNext}, {smallFrameSize, kindNext}}
	for i, w := range want {
		if len(frames[i]) != w.size || frames[i][1] != w.kind {
			t.Errorf("frame %d: %d bytes kind %d, want %d bytes kind %d", i, len(frames[i]), frames[i][1], w.size, w.kind)
		}
	}
	fr := newFrameReader(bytes.NewReader(bytes.Join(frames, nil)))
	for _, want := range [][]byte{small, big} {
		got, _, err := fr.next()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("reassembled %d bytes, %v; want %d bytes", len(got), err, len(want))
		}
	}
	if _, _, err := fr.next(); err != io.EOF {
		t.Errorf("after the last frame: %v, want EOF", err)
	}
}

// When a link drops without Disconnect, the node that dialled redials, and both ends see the
// peer come back.
func TestRedialAfterLinkLoss(t *testing.T) {
	checkLeaks(t)
	a, b := pair(t, true, nodeOptions{}, nodeOptions{})
	linkOf(t, b, a).close(errors.New("test: cable cut"))
	a.rec.next(t, "down")
	b.rec.next(t, "down")
	start := time.Now()
	if up := a.rec.next(t, "up"); up.from != b.id || !up.peer.Outbound {
		t.Fatalf("a: PeerUp %+v after redial", up.peer)
	}
	b.rec.next(t, "up")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("redial took %v", d)
	}
	// Disconnect stops the redialling.
	a.Disconnect(b.id)
	a.rec.next(t, "down")
	a.rec.none(t, "up", 2*redialMin)
}

// Two nodes dialling each other at the same moment end up with one link, the same at both
// ends, that carries messages.
func TestSimultaneousConnect(t *testing.T) {
	checkLeaks(t)
	a := newTCPNode(t, "a", nodeOptions{})
	b := newTCPNode(t, "b", nodeOptions{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a.Connect(ctxTimeout(t, 5*time.Second), b.ref) }()
	go func() { defer wg.Done(); b.Connect(ctxTimeout(t, 5*time.Second), a.ref) }()
	wg.Wait()
	time.Sleep(200 * time.Millisecond)
	la, lb := a.Links(), b.Links()
	if len(la) != 1 || len(lb) != 1 || la[0].Outbound == lb[0].Outbound {
		t.Fatalf("links after simultaneous dial: a %+v, b %+v", la, lb)
	}
	if err := a.Send(context.Background(), b.id, &wire.Accepted{ID: 5}); err != nil {
		t.Fatal(err)
	}
	if m := b.rec.next(t, "msg").msg.(*wire.Accepted); m.ID != 5 {
		t.Fatalf("got %+v", m)
	}
}

// Send with a done context never waits: a full queue answers ErrQueueFull at once, a longer
// context waits for room.
func TestSendBackpressure(t *testing.T) {
	for _, real := range []bool{false, true} {
		checkLeaks(t)
		release := make(chan struct{})
		block := func(n *node, from crypto.NodeID, m wire.Message) { <-release }
		a, b := pair(t, real, nodeOptions{limits: Limits{MaxQueuedBytes: wire.MaxMessageSize * 2}}, nodeOptions{reply: block, limits: Limits{MaxQueuedBytes: wire.MaxMessageSize * 2}})
		done, cancel := context.WithCancel(context.Background())
		cancel()
		reply := &wire.DataReply{KeyType: crypto.CHK, Block: chkBlock("x")}
		var err error
		for i := 0; i < 1000 && err == nil; i++ {
			err = a.Send(done, b.id, reply)
		}
		if !errors.Is(err, ErrQueueFull) {
			t.Fatalf("real=%v: a never-read link: %v, want ErrQueueFull", real, err)
		}
		ctx, cancelWait := context.WithTimeout(context.Background(), 5*time.Second)
		errc := make(chan error, 1)
		go func() { errc <- a.Send(ctx, b.id, reply) }()
		close(release)
		if err := <-errc; err != nil {
			t.Errorf("real=%v: Send waiting for room: %v", real, err)
		}
		cancelWait()
	}
}

// A queue full of blocks still takes small messages, up to a quarter of its bound of their
// own; an empty queue takes anything.
func TestSendQueueRoomForSmall(t *testing.T) {
	const bound = 4 * 32797
	var q sendQueue
	big := bytes.Repeat([]byte{1}, 32797)
	small := []byte{byte(wire.TypeAccepted), 0, 0, 0, 0, 0, 0, 0, 9}
	if !q.fits(bound+1, bound) {
		t.Error("an empty queue refused a message larger than its bound")
	}
	for q.fits(len(big), bound) {
		q.push(big)
	}
	if q.bytes != bound {
		t.Fatalf("the blocks filled %d bytes of %d", q.bytes, bound)
	}
	n := 0
	for ; q.fits(len(small), bound); n++ {
		q.push(small)
	}
	if want := bound / 4 / len(small); n != want {
		t.Errorf("%d small messages queued behind a full queue of blocks, want %d", n, want)
	}
	if q.fits(len(big), bound) {
		t.Error("a block joined a full queue")
	}
}
