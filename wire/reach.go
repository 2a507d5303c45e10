package wire

import (
	"encoding/binary"
	"net/netip"

	"lethe/crypto"
)

// Link messages of reachability (spec §10.2, §11.5). The transport sends and consumes them;
// they never reach routing. They tell a node how peers see it, carry its new noderef when its
// addresses change, and let a peer both ends reach introduce two nodes behind NATs to each
// other so that they can punch through.

// ObservedAddress tells the receiver the address its link comes from, as the sender sees it.
type ObservedAddress struct {
	Addr netip.AddrPort
}

// NodeRefUpdate carries the sender's new noderef (its addresses or location changed). It
// must name the identity the link authenticated.
type NodeRefUpdate struct {
	Ref *NodeRef
}

// PunchRequest asks the receiver to introduce the sender to Peer, if the receiver has a link
// to it.
type PunchRequest struct {
	Peer crypto.NodeID
}

// PunchIntro, sent by a peer to both ends at once, says that Peer is seen at Addr and that
// both should start sending towards each other now.
type PunchIntro struct {
	Peer crypto.NodeID
	Addr netip.AddrPort
}

func (m *ObservedAddress) Type() Type { return TypeObservedAddress }
func (m *NodeRefUpdate) Type() Type   { return TypeNodeRefUpdate }
func (m *PunchRequest) Type() Type    { return TypePunchRequest }
func (m *PunchIntro) Type() Type      { return TypePunchIntro }

func (m *ObservedAddress) encode(e *encoder) { e.addr(m.Addr) }
func (m *NodeRefUpdate) encode(e *encoder)   { e.ref(m.Ref) }
func (m *PunchRequest) encode(e *encoder)    { e.b = append(e.b, m.Peer[:]...) }
func (m *PunchIntro) encode(e *encoder) {
	e.b = append(e.b, m.Peer[:]...)
	e.addr(m.Addr)
}

// An `addr` field is a family byte (4 or 6), the address in 4 or 16 bytes, and the port in 2;
// the port is not zero, the address neither unspecified nor multicast, and an IPv6 address
// neither IPv4-mapped nor zoned, so that each address has one encoding.
const (
	addrFamily4 = 4
	addrFamily6 = 6
)

// validAddr reports whether a is an address an addr field can carry.
func validAddr(a netip.AddrPort) bool {
	ip := a.Addr()
	return a.Port() != 0 && ip.IsValid() && !ip.IsUnspecified() && !ip.IsMulticast() && ip.Zone() == "" && !ip.Is4In6()
}

func (e *encoder) addr(a netip.AddrPort) {
	if !validAddr(a) {
		e.fail("address %v: not a unicast address and port", a)
		return
	}
	ip := a.Addr()
	if ip.Is4() {
		e.b = append(e.b, addrFamily4)
	} else {
		e.b = append(e.b, addrFamily6)
	}
	e.b = append(e.b, ip.AsSlice()...)
	e.b = binary.BigEndian.AppendUint16(e.b, a.Port())
}

func (d *decoder) addr() netip.AddrPort {
	var n int
	switch d.u8() {
	case addrFamily4:
		n = 4
	case addrFamily6:
		n = 16
	default:
		if d.err == nil {
			d.fail("address family not 4 or 6")
		}
		return netip.AddrPort{}
	}
	v := d.take(n + 2)
	if v == nil {
		return netip.AddrPort{}
	}
	ip, _ := netip.AddrFromSlice(v[:n])
	a := netip.AddrPortFrom(ip, binary.BigEndian.Uint16(v[n:]))
	if !validAddr(a) {
		d.fail("address %v: not a unicast address and port", a)
	}
	return a
}
