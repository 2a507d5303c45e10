//go:build linux

package lab

import (
	"fmt"
	"net/netip"
	"strings"
)

// NAT is how a home router maps its hosts' connections to its outside address.
type NAT int

const (
	// EndpointIndependent keeps a connection's source port where it can (nftables
	// masquerade), so one inside address and port has one outside port, whoever it talks
	// to: most home routers. Unsolicited packets from outside are dropped unless they answer
	// what went out (filtering by address and port), so two hosts behind such routers can
	// reach each other by sending at once (hole punching).
	EndpointIndependent NAT = iota
	// Symmetric draws a new random outside port for every connection (masquerade
	// fully-random), so each peer sees another port: carrier-grade NATs and some routers.
	// Holes punched towards one peer are of no use to another.
	Symmetric
)

func (n NAT) String() string {
	switch n {
	case EndpointIndependent:
		return "endpoint-independent"
	case Symmetric:
		return "symmetric"
	}
	return fmt.Sprintf("NAT(%d)", int(n))
}

// RouterConfig says what kind of home router to make.
type RouterConfig struct {
	NAT  NAT
	UPnP bool // run miniupnpd: UPnP IGD, NAT-PMP and PCP
	Link Link // its uplink
}

// Router is a home router: a namespace with its outside on the internet (wan0) and its
// inside a bridge (br0, 192.168.1.1/24) where its hosts hang.
type Router struct {
	Name   string
	NS     string
	Addr   netip.Addr // outside address
	Config RouterConfig
	UPnPd  *Proc // miniupnpd, when it runs

	lab   *Lab
	hosts int
}

// LAN is every home's inside network, as most home routers have it: the same in every home.
var LAN = netip.MustParsePrefix("192.168.1.0/24")

// AddRouter makes a home router.
func (l *Lab) AddRouter(name string, cfg RouterConfig) *Router {
	l.tb.Helper()
	r := &Router{Name: name, NS: l.namespace(name), Addr: l.publicAddr(true), Config: cfg, lab: l}
	l.attach(name, r.NS, []netip.Addr{r.Addr}, cfg.Link)
	l.ip(r.NS, "link add br0 type bridge", "addr add 192.168.1.1/24 dev br0", "link set br0 up")
	l.sysctl(r.NS, "net.ipv4.ip_forward=1")
	l.nft(r.NS, natRuleset(cfg.NAT))
	if cfg.UPnP {
		r.UPnPd = l.startUPnP(r)
	}
	return r
}

// natRuleset is the router's firewall and NAT. Forwarding: the inside may go out; from
// outside, only what answers it, or what a port mapping (miniupnpd's chain) lets in. The
// chains miniupnpd fills are named in its configuration (upnp.go) and are empty otherwise.
//
// The router itself takes nothing unsolicited from outside, as home routers' firewalls do.
// This matters to hole punching: a packet from a peer that arrives before the host's own
// packet to that peer has gone out would otherwise leave a connection-tracking entry for
// the pair of outside addresses, and the host's packet, finding that pair taken, would be
// given another port. Dropped in the input chain, the packet's entry is never confirmed. The
// exception is the lab's STUN server (ports 3478 and 3479), whose answers from its other
// address and port miniupnpd waits for when it tests the router's outside.
func natRuleset(kind NAT) string {
	masq := "masquerade"
	if kind == Symmetric {
		masq = "masquerade fully-random"
	}
	return strings.NewReplacer("MASQ", masq).Replace(`
table inet filter {
	chain input {
		type filter hook input priority filter; policy accept;
		iifname "wan0" ct state established,related accept
		iifname "wan0" udp sport { 3478, 3479 } accept
		iifname "wan0" drop
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname "br0" oifname "wan0" accept
		jump miniupnpd
	}
	chain miniupnpd {
	}
}
table inet nat {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		jump miniupnpd
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		jump miniupnpd-pcp-peer
		oifname "wan0" MASQ
	}
	chain miniupnpd {
	}
	chain miniupnpd-pcp-peer {
	}
}
`)
}

// AddHost makes a host inside the home, on the next LAN address (192.168.1.2 onwards).
func (r *Router) AddHost(name string) *Host {
	l := r.lab
	l.tb.Helper()
	r.hosts++
	h := &Host{Name: name, NS: l.hostNamespace(name), Router: r, lab: l,
		Addr: netip.AddrFrom4([4]byte{192, 168, 1, byte(1 + r.hosts)})}
	port := fmt.Sprintf("h%d", r.hosts)
	l.ip(r.NS, fmt.Sprintf("link add %s type veth peer name eth0 netns %s", port, h.NS),
		fmt.Sprintf("link set %s master br0", port), fmt.Sprintf("link set %s up", port))
	l.ip(h.NS, fmt.Sprintf("addr add %s/24 dev eth0", h.Addr), "link set eth0 up", "route add default via 192.168.1.1")
	return h
}
