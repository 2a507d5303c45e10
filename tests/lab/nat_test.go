//go:build linux

package lab_test

import (
	"net/netip"
	"testing"
	"time"

	"lethe/tests/lab"
)

// TestNATKinds shows what each kind of home router does, seen from two outside hosts: the
// outside port one inside socket gets towards each, whether the second host can reach the
// mapping made towards the first (filtering), and whether two hosts behind routers of a kind
// reach each other by sending at once (hole punching).
//
//	go test ./tests/lab -run TestNATKinds -v
func TestNATKinds(t *testing.T) {
	l := lab.New(t)
	o1 := l.AddPublicHost("out1", lab.Link{})
	o2 := l.AddPublicHost("out2", lab.Link{})
	for _, o := range []*lab.Host{o1, o2} {
		if err := o.Reflect(3000); err != nil {
			t.Fatal(err)
		}
	}
	r1, r2 := netip.AddrPortFrom(o1.Addr, 3000), netip.AddrPortFrom(o2.Addr, 3000)
	for _, kind := range []lab.NAT{lab.EndpointIndependent, lab.Symmetric} {
		t.Run(kind.String(), func(t *testing.T) {
			var hosts [2]*lab.Host
			for i := range hosts {
				hosts[i] = l.AddRouter(kind.String()[:3]+string(rune('a'+i)), lab.RouterConfig{NAT: kind}).AddHost(kind.String()[:3] + string(rune('a'+i)) + "-h")
			}
			h := hosts[0]
			c, err := h.ListenUDP(40000)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			seen1, err := lab.Observed(c, r1)
			if err != nil {
				t.Fatal(err)
			}
			seen2, err := lab.Observed(c, r2)
			if err != nil {
				t.Fatal(err)
			}
			if seen1.Addr() != h.Public() || seen2.Addr() != h.Public() {
				t.Errorf("outside hosts saw %v and %v, not the router's %v", seen1, seen2, h.Public())
			}
			// Filtering: the second outside host sends to the mapping made towards the first.
			oc, err := o2.ListenUDP(0)
			if err != nil {
				t.Fatal(err)
			}
			defer oc.Close()
			oc.WriteToUDPAddrPort([]byte("unsolicited"), seen1)
			c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			_, _, rerr := c.ReadFromUDPAddrPort(make([]byte, 64))
			c.SetReadDeadline(time.Time{})
			filtered := rerr != nil

			// Hole punching between two hosts behind routers of this kind.
			cb, err := hosts[1].ListenUDP(40000)
			if err != nil {
				t.Fatal(err)
			}
			defer cb.Close()
			seenB, err := lab.Observed(cb, r1)
			if err != nil {
				t.Fatal(err)
			}
			aHeard, bHeard := lab.Punch(c, cb, seen1, seenB, 3*time.Second)

			t.Logf("%s NAT: inside 192.168.1.2:40000 seen as %v by %v and %v by %v; unsolicited from the second host: %s; hole punching between two such homes: %v/%v",
				kind, seen1, o1.Addr, seen2, o2.Addr, map[bool]string{true: "dropped", false: "delivered"}[filtered], aHeard, bHeard)
			switch kind {
			case lab.EndpointIndependent:
				if seen1.Port() != 40000 || seen2.Port() != 40000 {
					t.Errorf("endpoint-independent NAT changed the port: %v, %v", seen1, seen2)
				}
				if !aHeard || !bHeard {
					t.Errorf("hole punching between two endpoint-independent NATs failed: %v, %v", aHeard, bHeard)
				}
			case lab.Symmetric:
				if seen1.Port() == seen2.Port() {
					t.Errorf("symmetric NAT gave one port towards two hosts: %v, %v", seen1, seen2)
				}
				if aHeard || bHeard {
					t.Errorf("hole punching between two symmetric NATs worked (%v, %v): the lab's symmetric NAT is not", aHeard, bHeard)
				}
			}
			if !filtered {
				t.Errorf("%s NAT let an unsolicited packet in", kind)
			}
		})
	}
}
