//go:build linux

package lab

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// miniupnpdConf configures miniupnpd on a lab router: UPnP IGD and NAT-PMP/PCP on the
// inside, mappings into the nftables chains the router's ruleset jumps to (router.go), the
// outside address from the lab's STUN server, secure mode (a host maps ports to itself only),
// and a lease file so that the mappings it holds can be read.
const miniupnpdConf = `ext_ifname=wan0
listening_ip=br0
port=5000
enable_natpmp=yes
enable_upnp=yes
secure_mode=yes
system_uptime=no
notify_interval=60
clean_ruleset_interval=600
ext_perform_stun=yes
ext_stun_host=%s
ext_stun_port=%d
upnp_table_name=filter
upnp_nat_table_name=nat
upnp_forward_chain=miniupnpd
upnp_nat_chain=miniupnpd
upnp_nat_postrouting_chain=miniupnpd-pcp-peer
lease_file=%s
uuid=%s
allow 1024-65535 192.168.1.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
`

// startUPnP starts miniupnpd on the router and waits until it serves with port forwarding
// on: the STUN server (made with the first UPnP router) told it its outside address.
func (l *Lab) startUPnP(r *Router) *Proc {
	l.tb.Helper()
	stun := l.stunHost()
	conf := filepath.Join(l.dir, r.Name+"-miniupnpd.conf")
	lease := filepath.Join(l.dir, r.Name+"-miniupnpd.leases")
	uuid := fmt.Sprintf("7e7e7e7e-0000-4000-8000-%012x", r.Addr.As4())
	if err := os.WriteFile(conf, fmt.Appendf(nil, miniupnpdConf, stun.Addr, stunPort, lease, uuid), 0o600); err != nil {
		l.tb.Fatal(err)
	}
	p := l.start(r.NS, r.Name+"-miniupnpd", "miniupnpd", "-f", conf, "-d", "-P", filepath.Join(l.dir, r.Name+"-miniupnpd.pid"))
	deadline := time.Now().Add(20 * time.Second)
	for {
		log := p.Tail(1 << 16)
		if strings.Contains(log, "Port forwarding is now enabled") || strings.Contains(log, "STUN: ... done") {
			if strings.Contains(log, "Port forwarding is now disabled") {
				l.tb.Fatalf("miniupnpd on %s has port forwarding off:\n%s", r.Name, log)
			}
			return p
		}
		if !p.Running() || time.Now().After(deadline) {
			l.tb.Fatalf("miniupnpd on %s did not come up (running: %v):\n%s", r.Name, p.Running(), log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stunHost makes, once, the public host "stun" that runs the lab's STUN server.
func (l *Lab) stunHost() *Host {
	l.tb.Helper()
	l.mu.Lock()
	h := l.stun
	l.mu.Unlock()
	if h != nil {
		return h
	}
	h = l.AddPublicHost("stun", Link{}, 1)
	second := netip.AddrFrom4(h.Addr.As4())
	second = second.Next()
	l.startSTUN(h, [2]netip.Addr{h.Addr, second})
	l.mu.Lock()
	l.stun = h
	l.mu.Unlock()
	return h
}

// Mappings are the port mappings miniupnpd holds on the router, as the rules in its
// nftables chain (one line each, like `iif "wan0" tcp dport 41000 dnat ip to 192.168.1.2:41000`).
func (r *Router) Mappings() ([]string, error) {
	out, err := r.lab.output(r.NS, "nft", "list", "chain", "inet", "nat", "miniupnpd")
	if err != nil {
		return nil, err
	}
	var rules []string
	for _, line := range strings.Split(out, "\n") {
		if line = strings.TrimSpace(line); strings.Contains(line, "dnat") {
			rules = append(rules, line)
		}
	}
	return rules, nil
}
