package transport

import (
	"net"

	"golang.org/x/net/ipv4"
)

// PacketConn wraps the UDP socket QUIC runs on so that every datagram it sends and receives
// is counted and charged to the buckets (spec §11.6): the QUIC links' stream data and all that
// QUIC adds to it, its packet headers, acknowledgements, retransmissions, handshakes, path
// MTU probes and connection closes, and the hole-punching packets sent on the same socket.
// The datagrams are never held back here, which would delay acknowledgements and confuse
// QUIC's congestion control: they put the bucket in debt, and the links' streams wait until
// it is paid. Datagrams that QUIC drops (from no connection, undecryptable) were received
// all the same and count too.
//
// The wrapper keeps what quic-go uses a *net.UDPConn for: SyscallConn for its socket options
// (don't-fragment, ECN), WriteMsgUDP for GSO batches, and ReadBatch (recvmmsg where the
// system has it), which it would otherwise call on the socket's descriptor directly, unseen.
func (b *Bandwidth) PacketConn(c *net.UDPConn) net.PacketConn {
	if b == nil {
		return c
	}
	return &meteredUDP{UDPConn: c, batch: ipv4.NewPacketConn(c), b: b}
}

// meteredUDP counts what QUIC reads and writes through the methods quic-go calls: ReadBatch,
// ReadMsgUDP and ReadFrom, WriteMsgUDP and WriteTo.
type meteredUDP struct {
	*net.UDPConn
	batch *ipv4.PacketConn
	b     *Bandwidth
}

func (c *meteredUDP) ReadBatch(ms []ipv4.Message, flags int) (int, error) {
	n, err := c.batch.ReadBatch(ms, flags)
	total := 0
	for i := range n {
		total += ms[i].N
	}
	c.in(total)
	return n, err
}

func (c *meteredUDP) ReadMsgUDP(p, oob []byte) (n, oobn, flags int, addr *net.UDPAddr, err error) {
	n, oobn, flags, addr, err = c.UDPConn.ReadMsgUDP(p, oob)
	c.in(n)
	return n, oobn, flags, addr, err
}

func (c *meteredUDP) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.UDPConn.ReadFrom(p)
	c.in(n)
	return n, addr, err
}

func (c *meteredUDP) WriteMsgUDP(p, oob []byte, addr *net.UDPAddr) (n, oobn int, err error) {
	n, oobn, err = c.UDPConn.WriteMsgUDP(p, oob, addr)
	c.out(n)
	return n, oobn, err
}

func (c *meteredUDP) WriteTo(p []byte, addr net.Addr) (int, error) {
	n, err := c.UDPConn.WriteTo(p, addr)
	c.out(n)
	return n, err
}

func (c *meteredUDP) in(n int) {
	if n > 0 {
		c.b.received(n)
		owe(c.b.down, n)
	}
}

func (c *meteredUDP) out(n int) {
	if n > 0 {
		c.b.sentBytes(n)
		owe(c.b.up, n)
	}
}
