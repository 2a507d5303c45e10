//go:build linux

package lab

import (
	"encoding/binary"
	"net"
	"net/netip"

	"lethe/tests/lab/netns"
)

// The lab's STUN server (RFC 5389 Binding, with RFC 5780's CHANGE-REQUEST): miniupnpd asks it
// for the router's outside address, because miniupnpd will not take an address in
// 198.18.0.0/15 from its interface or its configuration (it keeps those for benchmarks and
// refuses to map ports behind them), but takes the address a STUN server reports. It answers
// from its other address or port when asked to, as miniupnpd's test of the NAT in front of
// the router expects.

const stunPort = 3478

// startSTUN runs the STUN server on a public host with two addresses, on ports 3478 and
// 3479 of each, until the lab closes.
func (l *Lab) startSTUN(h *Host, addrs [2]netip.Addr) {
	l.tb.Helper()
	var conns [2][2]*net.UDPConn // [address][port]
	err := netns.Do(h.Path(), func() error {
		for i, a := range addrs {
			for j := range 2 {
				c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, uint16(stunPort+j))))
				if err != nil {
					return err
				}
				conns[i][j] = c
			}
		}
		return nil
	})
	if err != nil {
		l.tb.Fatalf("STUN server: %v", err)
	}
	for i := range 2 {
		for j := range 2 {
			l.onClose(func() { conns[i][j].Close() })
			go serveSTUN(conns[i][j], func(changeIP, changePort bool) *net.UDPConn {
				ii, jj := i, j
				if changeIP {
					ii = 1 - i
				}
				if changePort {
					jj = 1 - j
				}
				return conns[ii][jj]
			})
		}
	}
}

func serveSTUN(c *net.UDPConn, from func(changeIP, changePort bool) *net.UDPConn) {
	buf := make([]byte, 1500)
	for {
		n, peer, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		req := buf[:n]
		if n < 20 || binary.BigEndian.Uint16(req) != 0x0001 || binary.BigEndian.Uint32(req[4:]) != 0x2112A442 ||
			int(binary.BigEndian.Uint16(req[2:]))+20 != n {
			continue
		}
		var change uint32
		for attrs := req[20:]; len(attrs) >= 4; {
			typ, size := binary.BigEndian.Uint16(attrs), int(binary.BigEndian.Uint16(attrs[2:]))
			if 4+size > len(attrs) {
				break
			}
			if typ == 0x0003 && size == 4 {
				change = binary.BigEndian.Uint32(attrs[4:])
			}
			attrs = attrs[4+(size+3)&^3:]
		}
		from(change&4 != 0, change&2 != 0).WriteToUDPAddrPort(stunAnswer(req[8:20], peer), peer)
	}
}

// stunAnswer is a Binding success response telling peer its address, plainly and XORed.
func stunAnswer(txid []byte, peer netip.AddrPort) []byte {
	a := peer.Addr().Unmap().As4()
	b := make([]byte, 20, 44)
	binary.BigEndian.PutUint16(b, 0x0101)
	binary.BigEndian.PutUint16(b[2:], 24)
	binary.BigEndian.PutUint32(b[4:], 0x2112A442)
	copy(b[8:], txid)
	b = binary.BigEndian.AppendUint16(b, 0x0001) // MAPPED-ADDRESS
	b = binary.BigEndian.AppendUint16(b, 8)
	b = append(b, 0, 1)
	b = binary.BigEndian.AppendUint16(b, peer.Port())
	b = append(b, a[:]...)
	b = binary.BigEndian.AppendUint16(b, 0x0020) // XOR-MAPPED-ADDRESS
	b = binary.BigEndian.AppendUint16(b, 8)
	b = append(b, 0, 1)
	b = binary.BigEndian.AppendUint16(b, peer.Port()^0x2112)
	x := binary.BigEndian.Uint32(a[:]) ^ 0x2112A442
	return binary.BigEndian.AppendUint32(b, x)
}
