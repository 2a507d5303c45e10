package node

import (
	"net"
	"net/netip"
	"slices"
	"strconv"

	"lethe/crypto"
	"lethe/portmap"
	"lethe/transport"
	"lethe/wire"
)

// Reachability of the node (spec §19.11): where peers can link to it, what its NAT does, and
// what its user can do about it.

// Reachability states, from best to worst.
const (
	ReachPublic      = "public"      // peers reach the node at the address it listens on
	ReachMapped      = "mapped"      // the router forwards a port to the node (UPnP IGD, NAT-PMP, PCP)
	ReachPunchable   = "punchable"   // behind a NAT that keeps one mapping for all destinations: peers link through hole punching
	ReachUnreachable = "unreachable" // behind a NAT that maps each destination to its own port: no direct links from other NATed nodes
	ReachUnknown     = "unknown"     // too few peers have said how they see the node
)

// ReachStatus is the node's reachability as `lethe status` and the status page show it.
type ReachStatus struct {
	State string `json:"state"`
	// Outside is the QUIC address at least two peers at different addresses see the node at.
	Outside string `json:"outside,omitempty"`
	// Mapped lists the port mappings the router holds for the node ("udp 198.51.100.4:41000").
	Mapped []string `json:"mapped,omitempty"`
	// Mapper is the protocol that made them ("UPnP IGD", "NAT-PMP", "PCP").
	Mapper string `json:"mapper,omitempty"`
	// NAT is what the peers' reports say: "unknown", "consistent" or "symmetric".
	NAT string `json:"nat"`
	// Reporters is how many peers (at different addresses) reported an address.
	Reporters int `json:"reporters"`
	// PunchesTried and PunchesLinked count the hole punches this node asked for.
	PunchesTried  int `json:"punchesTried"`
	PunchesLinked int `json:"punchesLinked"`
	// Advice says, in a sentence, what the user can do.
	Advice string `json:"advice"`
}

// quicListenAddr is where the node takes QUIC links: Config.QUICAddr, else the UDP port of
// the TCP listening address (the same port number, or a free one when that is 0). A node of
// a test network speaks TCP only unless told otherwise (spec §19.6).
func quicListenAddr(cfg Config) string {
	if cfg.QUICAddr == Off || cfg.QUICAddr == "" && cfg.Testnet {
		return ""
	}
	if cfg.QUICAddr != "" {
		return cfg.QUICAddr
	}
	return cfg.ListenAddr
}

// quicAddresses are the QUIC addresses the noderef lists: the outside address peers agree on
// and the router's mappings first, then the hosts of the TCP addresses with the QUIC port.
func (n *Node) quicAddresses(tcp []string) []string {
	qa := n.tr.QUICAddr()
	if qa == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(qa)
	if err != nil {
		return nil
	}
	n.refMu.Lock()
	out := slices.Clone(n.outside)
	n.refMu.Unlock()
	for _, a := range tcp {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			continue
		}
		out = append(out, net.JoinHostPort(host, port))
	}
	return firstDistinct(out, wire.MaxAddresses)
}

// firstDistinct is the first max distinct strings of s, in order.
func firstDistinct(s []string, max int) []string {
	var out []string
	for _, a := range s {
		if !slices.Contains(out, a) && len(out) < max {
			out = append(out, a)
		}
	}
	return out
}

// followReachability re-signs the noderef when the outside address peers agree on changes;
// the transport then tells every peer (NodeRefUpdate).
func (n *Node) followReachability() {
	outside := n.mapped("udp")
	if r := n.tr.Reachability(); r.Outside.IsValid() && !n.isLocal(r.Outside.Addr()) {
		outside = append(outside, r.Outside.String())
	}
	outsideTCP := n.mapped("tcp")
	n.refMu.Lock()
	changed := !slices.Equal(outside, n.outside) || !slices.Equal(outsideTCP, n.outsideTCP)
	n.outside, n.outsideTCP = outside, outsideTCP
	loc := n.refLoc
	n.refMu.Unlock()
	if !changed {
		return
	}
	n.log.Info("outside address changed; noderef re-signed", "addresses", len(outside))
	if err := n.makeRef(loc); err != nil {
		n.log.Warn("noderef not updated for the outside address", "err", err)
	}
}

// mapped lists the outside addresses of the router's mappings of proto ("udp", "tcp").
func (n *Node) mapped(proto string) []string {
	if n.mapper == nil {
		return nil
	}
	var out []string
	_, ms := n.mapper.Mappings()
	for _, m := range ms {
		if m.Proto == proto {
			out = append(out, m.External.String())
		}
	}
	return out
}

// newMapper makes the port mapper for the node's listening ports, or nil when mapping is off
// or the node listens on loopback only (nothing to map there).
func (n *Node) newMapper() *portmap.Mapper {
	if !n.cfg.PortMapping {
		return nil
	}
	var ports []portmap.Port
	for _, p := range []struct{ proto, addr string }{{"udp", n.tr.QUICAddr()}, {"tcp", n.tr.Addr()}} {
		ap, err := netip.ParseAddrPort(p.addr)
		if err != nil || ap.Addr().IsLoopback() {
			continue
		}
		ports = append(ports, portmap.Port{Proto: p.proto, Internal: ap.Port()})
	}
	if len(ports) == 0 {
		return nil
	}
	return portmap.New(portmap.Config{Ports: ports, Logger: n.log.With("part", "portmap")})
}

// isLocal reports whether a is an address of this machine.
func (n *Node) isLocal(a netip.Addr) bool {
	ifaddrs, _ := net.InterfaceAddrs()
	for _, ia := range ifaddrs {
		if ipn, ok := ia.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok && ip.Unmap() == a.Unmap() {
				return true
			}
		}
	}
	return false
}

// reachStatus sums up the node's reachability and what its user can do about it.
func (n *Node) reachStatus() ReachStatus {
	r := n.tr.Reachability()
	st := ReachStatus{
		NAT:           r.NAT.String(),
		Reporters:     r.Reporters,
		PunchesTried:  r.PunchesTried,
		PunchesLinked: r.PunchesLinked,
	}
	if r.Outside.IsValid() {
		st.Outside = r.Outside.String()
	}
	if n.mapper != nil {
		method, ms := n.mapper.Mappings()
		st.Mapper = method
		for _, m := range ms {
			st.Mapped = append(st.Mapped, m.String())
		}
	}
	port := portOf(n.tr.QUICAddr())
	switch {
	case n.tr.QUICAddr() == "":
		st.State = ReachUnknown
		st.Advice = "QUIC is off (--quic off): peers behind NATs cannot punch through to this node; run with QUIC to be reachable from them"
	case len(st.Mapped) > 0:
		st.State = ReachMapped
		st.Advice = "the router forwards a port to this node (" + st.Mapper + "): peers link to it directly; nothing to do"
	case r.Outside.IsValid() && n.isLocal(r.Outside.Addr()):
		st.State = ReachPublic
		st.Advice = "peers reach this node at its own address: nothing to do"
	case r.NAT == transport.NATSymmetric:
		st.State = ReachUnreachable
		st.Advice = "this node's router gives each destination its own port (a symmetric NAT): nodes behind NATs cannot link to it directly, so its traffic goes through peers that can; turn on UPnP or NAT-PMP on the router, or forward UDP and TCP port " + port + " to this machine"
	case r.NAT == transport.NATConsistent:
		st.State = ReachPunchable
		st.Advice = "behind a NAT that hole punching gets through: peers link to this node through a peer both reach; to be reached directly, turn on UPnP or NAT-PMP on the router, or forward UDP and TCP port " + port + " to this machine"
		if r.PunchesTried > r.PunchesLinked && len(r.PunchFailures) > 0 {
			st.Advice += "; hole punching to " + shortIDs(r.PunchFailures) + " failed: that peer is likely behind a symmetric NAT, and traffic to it goes through other peers"
		}
	default:
		st.State = ReachUnknown
		st.Advice = "fewer than two peers at different addresses have said how they see this node yet"
		if len(r.PunchFailures) > 0 {
			st.Advice += "; hole punching to " + shortIDs(r.PunchFailures) + " failed: one of the two nodes is likely behind a symmetric NAT, and no direct link is possible; traffic goes through peers"
		}
	}
	return st
}

func portOf(hostport string) string {
	_, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return strconv.Itoa(0)
	}
	return port
}

func shortIDs(ids []crypto.NodeID) string {
	var s string
	for i, id := range ids {
		if i > 0 {
			s += ", "
		}
		s += id.Short()
	}
	return s
}
