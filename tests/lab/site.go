//go:build linux

package lab

import (
	"fmt"
	"net/netip"
	"time"
)

// Link is what a site's link to the internet does to the packets the site sends: each is
// delayed by Delay, lost with probability Loss, and the site sends at most Uplink bits per
// second. The path from site A to site B so takes A's delay and loss; with the same Link at
// every site, every path has that one-way delay and loss in each direction.
type Link struct {
	Delay  time.Duration
	Loss   float64
	Uplink int64 // bits per second; 0 is no cap
}

func (k Link) String() string {
	s := fmt.Sprintf("%v one-way, %.2g%% loss", k.Delay, k.Loss*100)
	if k.Uplink > 0 {
		s += fmt.Sprintf(", %g Mbit/s uplink", float64(k.Uplink)/1e6)
	}
	return s
}

// Host is a machine of the lab: a namespace with one way out, either straight onto the
// internet (a public host) or through its home router.
type Host struct {
	Name   string
	NS     string     // its network namespace
	Addr   netip.Addr // its own address: public, or in its home's LAN
	Router *Router    // nil for a public host

	lab *Lab
}

// Public is the address the internet sees the host's traffic come from: its own, or its
// router's outside address.
func (h *Host) Public() netip.Addr {
	if h.Router != nil {
		return h.Router.Addr
	}
	return h.Addr
}

// Path is the host's namespace file, for netns.Do.
func (h *Host) Path() string { return nsPath(h.NS) }

// AddPublicHost makes a host with a public address of its own (and extra addresses as many
// as asked for, all on its one link).
func (l *Lab) AddPublicHost(name string, link Link, extra ...int) *Host {
	l.tb.Helper()
	h := &Host{Name: name, NS: l.hostNamespace(name), lab: l}
	h.Addr = l.publicAddr(false)
	addrs := []netip.Addr{h.Addr}
	for range extra {
		addrs = append(addrs, l.publicAddr(false))
	}
	l.attach(name, h.NS, addrs, link)
	return h
}

// attach joins a namespace to the internet by its TUN device wan0: the addresses, the routes
// (the whole internet through wan0, and everything else too, which the internet drops) and
// the uplink cap.
func (l *Lab) attach(name, ns string, addrs []netip.Addr, link Link) {
	l.tb.Helper()
	if err := l.internet.attach(name, ns, addrs, link); err != nil {
		l.tb.Fatal(err)
	}
	cmds := []string{}
	for _, a := range addrs {
		cmds = append(cmds, fmt.Sprintf("addr add %s/15 dev wan0", a))
	}
	cmds = append(cmds, "link set wan0 up", "route add default dev wan0")
	l.ip(ns, cmds...)
	l.shape(ns, link.Uplink)
}

// shape caps what the namespace sends out of wan0 at bits per second, with a token bucket
// (TBF) whose queue holds 50 ms at that rate, as a home router's uplink; 0 removes the cap.
func (l *Lab) shape(ns string, bits int64) {
	l.tb.Helper()
	if bits <= 0 {
		l.run(ns, "", "sh", "-c", fmt.Sprintf("tc -n %s qdisc del dev wan0 root 2>/dev/null; true", ns))
		return
	}
	// The burst is the bytes sent at line rate before the cap bites: at least a 64 KiB
	// segment the kernel may hand over at once, or 5 ms at the rate.
	burst := max(64<<10, bits/8/200)
	l.run(ns, "", "tc", "-n", ns, "qdisc", "replace", "dev", "wan0", "root", "tbf",
		"rate", fmt.Sprint(bits), "burst", fmt.Sprint(burst), "latency", "50ms")
}

// SetLink changes the link of a public host or a router while the lab runs.
func (l *Lab) SetLink(site string, link Link) {
	l.tb.Helper()
	if err := l.internet.setLink(site, link); err != nil {
		l.tb.Fatal(err)
	}
	l.shape(l.name+"-"+site, link.Uplink)
}
