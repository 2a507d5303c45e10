package transport

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/tls"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"lethe/cputime"
	"lethe/crypto"
	"lethe/wire"
)

// benchLimits lift the per-peer rate limit so that the link's own speed is measured.
var benchLimits = Limits{MessagesPerSecond: 1e12, MessageBurst: 1 << 30}

// lendingCounter is a counter that takes the buffers of block-carrying messages on loan and
// gives each back at once, as a router does once an insert has ended.
type lendingCounter struct{ *counter }

func (c lendingCounter) ReceiveLent(_ crypto.NodeID, _ wire.Message, release func()) {
	c.msgs.Add(1)
	release()
}

// benchPair links two real nodes over TCP or QUIC; the receiver only counts, and with lend
// takes the received blocks' buffers on loan (Borrower).
func benchPair(b *testing.B, overQUIC, lend bool) (a, recv *TCP, got *counter) {
	b.Helper()
	got = &counter{}
	var h Handler = got
	if lend {
		h = lendingCounter{got}
	}
	quicAddr := ""
	if overQUIC {
		quicAddr = "127.0.0.1:0"
	}
	mk := func(name string, h Handler) *TCP {
		tr, err := New(Config{Identity: testIdentity(b, name), ListenAddr: "127.0.0.1:0", QUICAddr: quicAddr, Handler: h, Limits: benchLimits})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		go tr.Run(ctx)
		b.Cleanup(func() { cancel(); tr.Close() })
		return tr
	}
	a, recv = mk("bench a", nil), mk("bench b", h)
	if err := a.Connect(context.Background(), recv.Ref()); err != nil {
		b.Fatal(err)
	}
	return a, recv, got
}

func waitCount(b *testing.B, c *atomic.Int64, n int64) {
	for c.Load() < n {
		time.Sleep(50 * time.Microsecond)
	}
}

// cpuMeter reports the CPU time the whole process spent per operation (user and system, all
// goroutines, garbage collection included) and the bytes moved per CPU second. On a shared
// machine wall-clock rates swing with the load; CPU cost per byte does not, so it is the
// fairer ratio between two pipelines.
type cpuMeter struct{ start time.Duration }

func processCPU() time.Duration {
	d, _ := cputime.Process()
	return d
}

func startCPU() cpuMeter { return cpuMeter{processCPU()} }

func (m cpuMeter) report(b *testing.B, ops int64, bytesPerOp int) {
	cpu := processCPU() - m.start
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(ops), "cpu-ns/op")
	if bytesPerOp > 0 {
		b.ReportMetric(float64(ops)*float64(bytesPerOp)/cpu.Seconds()/1e6, "MB/cpu-s")
	}
}

// BenchmarkLinkThroughput: 32 KiB blocks (CHK DataReply messages) through one link on
// loopback, TLS over TCP or QUIC, from Send to the receiver's Handler; tcp-lent to a
// Borrower, which gives each block's buffer back. Compare BenchmarkLoopbackTCP.
func BenchmarkLinkThroughput(b *testing.B) {
	b.Run("tcp", func(b *testing.B) { benchThroughput(b, false, false) })
	b.Run("tcp-lent", func(b *testing.B) { benchThroughput(b, false, true) })
	b.Run("quic", func(b *testing.B) { benchThroughput(b, true, false) })
}

func benchThroughput(b *testing.B, overQUIC, lend bool) {
	a, recv, got := benchPair(b, overQUIC, lend)
	m := &wire.DataReply{KeyType: crypto.CHK, Block: chkBlock("payload")}
	b.SetBytes(crypto.CHKBlockSize)
	n := int64(0)
	cpu := startCPU()
	for b.Loop() {
		if err := a.Send(context.Background(), recv.Ref().ID(), m); err != nil {
			b.Fatal(err)
		}
		n++
	}
	waitCount(b, &got.msgs, n)
	cpu.report(b, n, crypto.CHKBlockSize)
}

// BenchmarkLinkMessages: small messages (requests) through one link, TLS over TCP or QUIC;
// reports messages per second.
func BenchmarkLinkMessages(b *testing.B) {
	b.Run("tcp", func(b *testing.B) { benchMessages(b, false) })
	b.Run("quic", func(b *testing.B) { benchMessages(b, true) })
}

func benchMessages(b *testing.B, overQUIC bool) {
	a, recv, got := benchPair(b, overQUIC, false)
	m := &wire.Request{KeyType: crypto.CHK, HTL: 10, Key: crypto.RoutingKey{1}, Timeout: time.Minute}
	n := int64(0)
	start := time.Now()
	cpu := startCPU()
	for b.Loop() {
		m.ID++
		if err := a.Send(context.Background(), recv.Ref().ID(), m); err != nil {
			b.Fatal(err)
		}
		n++
	}
	waitCount(b, &got.msgs, n)
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msgs/s")
	cpu.report(b, n, 0)
}

// BenchmarkLoopbackTCP is the raw limit: the same 32788-byte writes over plain TCP on
// loopback, read in full by the other end.
func BenchmarkLoopbackTCP(b *testing.B) {
	benchStream(b, func(c net.Conn) net.Conn { return c }, func(c net.Conn) net.Conn { return c })
}

// BenchmarkLoopbackTLS is TLS 1.3 with the link's configuration but no framing or messages:
// what the encryption alone costs.
func BenchmarkLoopbackTLS(b *testing.B) {
	cert, err := selfSignedCertificate(testIdentity(b, "tls"), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	srv := serverTLSConfig(cert, rand.Reader)
	cli := clientTLSConfig(cert, rand.Reader, testIdentity(b, "tls").ID())
	benchStream(b, func(c net.Conn) net.Conn { return tls.Client(c, cli) }, func(c net.Conn) net.Conn { return tls.Server(c, srv) })
}

func benchStream(b *testing.B, wrapClient, wrapServer func(net.Conn) net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	var read atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c = wrapServer(c)
		defer c.Close()
		buf := make([]byte, crypto.CHKBlockSize)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			read.Add(1)
		}
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	c := wrapClient(raw)
	buf := make([]byte, crypto.CHKBlockSize)
	b.SetBytes(crypto.CHKBlockSize)
	n := int64(0)
	cpu := startCPU()
	for b.Loop() {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
		n++
	}
	waitCount(b, &read, n)
	cpu.report(b, n, crypto.CHKBlockSize)
	c.Close()
	<-done
}

// BenchmarkAESGCM is the cryptographic limit of a link: sealing and opening a 32 KiB record
// with AES-128-GCM, the cipher TLS 1.3 negotiates first, on one core.
func BenchmarkAESGCM(b *testing.B) {
	block, err := aes.NewCipher(make([]byte, 16))
	if err != nil {
		b.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		b.Fatal(err)
	}
	nonce := make([]byte, aead.NonceSize())
	plain := make([]byte, crypto.CHKBlockSize)
	sealed := make([]byte, 0, len(plain)+aead.Overhead())
	b.SetBytes(crypto.CHKBlockSize)
	cpu := startCPU()
	n := int64(0)
	for b.Loop() {
		sealed = aead.Seal(sealed[:0], nonce, plain, nil)
		if _, err := aead.Open(plain[:0], nonce, sealed, nil); err != nil {
			b.Fatal(err)
		}
		n++
	}
	cpu.report(b, n, crypto.CHKBlockSize)
}

// BenchmarkMemMessages: small messages between two in-memory nodes, the simulator's cost per
// hop (encode, decode, queue, handler).
func BenchmarkMemMessages(b *testing.B) {
	network := NewMemNetwork()
	got := &counter{}
	var nodes [2]*MemNode
	for i, name := range []string{"mem a", "mem b"} {
		ref, err := wire.NewNodeRef(testIdentity(b, name), wire.NodeRefInfo{})
		if err != nil {
			b.Fatal(err)
		}
		if nodes[i], err = network.Join(MemConfig{Ref: ref, Handler: got}); err != nil {
			b.Fatal(err)
		}
		defer nodes[i].Close()
	}
	if err := nodes[0].Connect(context.Background(), nodes[1].Ref()); err != nil {
		b.Fatal(err)
	}
	m := &wire.Request{KeyType: crypto.CHK, HTL: 10, Key: crypto.RoutingKey{1}, Timeout: time.Minute}
	n := int64(0)
	start := time.Now()
	for b.Loop() {
		m.ID++
		if err := nodes[0].Send(context.Background(), nodes[1].Ref().ID(), m); err != nil {
			b.Fatal(err)
		}
		n++
	}
	waitCount(b, &got.msgs, n)
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msgs/s")
}
