//go:build linux

package lab_test

import (
	"math"
	"net/netip"
	"os"
	"testing"
	"time"

	"lethe/tests/lab"
)

func long() bool { return os.Getenv("LETHE_LONG") != "" }

// TestLinkConditions measures that the lab's links do what they are set to: the round trip
// between two hosts whose links delay by D is 2·D, a link losing p loses p of what crosses it
// one way, and an uplink cap caps a TCP transfer. With LETHE_LONG=1 it measures with more
// packets and more settings, for docs/performance.md.
//
//	go test ./tests/lab -run TestLinkConditions -v
func TestLinkConditions(t *testing.T) {
	l := lab.New(t)
	a := l.AddPublicHost("a", lab.Link{})
	b := l.AddPublicHost("b", lab.Link{})
	if err := b.Echo(7); err != nil {
		t.Fatal(err)
	}
	settings := []lab.Link{{Delay: 40 * time.Millisecond, Loss: 0.005}}
	pings, packets := 100, 4000
	if long() {
		settings = []lab.Link{{}, {Delay: 5 * time.Millisecond}, {Delay: 40 * time.Millisecond, Loss: 0.005},
			{Delay: 150 * time.Millisecond, Loss: 0.02}}
		pings, packets = 500, 20000
	}
	for _, link := range settings {
		t.Run(link.String(), func(t *testing.T) {
			l.SetLink("a", link)
			l.SetLink("b", link)
			ping, err := a.Ping(netip.AddrPortFrom(b.Addr, 7), pings, 5*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.OneWayLoss(b, 9, packets)
			if err != nil {
				t.Fatal(err)
			}
			lost := packets - got
			t.Logf("%v: ping %v; one way: %d of %d lost (%.2f%%)", link, ping, lost, packets, 100*float64(lost)/float64(packets))
			if long() {
				// What one TCP connection carries over such a path: the raw limit of a
				// transfer over one link.
				rate, err := a.Throughput(b, 5002, 4<<20, 5*time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%v: one TCP connection (%s) carried 4 MiB at %.2f MB/s", link, l.TCP(), rate/1e6)
			}
			// The fastest probe shows the delay set; the others wait besides for a busy
			// machine's scheduler.
			want := 2 * link.Delay
			if m := ping.RTTs[0]; m < want || m > want+10*time.Millisecond {
				t.Errorf("fastest round trip %v, want %v (and at most 10 ms more)", m, want)
			}
			// Loss is drawn per packet: allow four standard deviations either way.
			mean := link.Loss * float64(packets)
			if sd := 4*math.Sqrt(mean) + 1; float64(lost) < mean-sd || float64(lost) > mean+sd {
				t.Errorf("%d of %d packets lost one way, want about %.0f", lost, packets, mean)
			}
		})
	}
	l.SetLink("a", lab.Link{})
	l.SetLink("b", lab.Link{})
	caps := []int64{20e6}
	if long() {
		caps = []int64{20e6, 100e6, 0}
	}
	for _, bits := range caps {
		link := lab.Link{Uplink: bits}
		t.Run("uplink "+link.String(), func(t *testing.T) {
			l.SetLink("a", link)
			size := int64(8 << 20)
			if bits == 0 || bits > 50e6 {
				size = 64 << 20
			}
			rate, err := a.Throughput(b, 5001, size, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("uplink cap %v: one TCP connection carried %.1f MB/s (%.1f Mbit/s)", link, rate/1e6, rate*8/1e6)
			if bits > 0 && (rate*8 > float64(bits)*1.05 || rate*8 < float64(bits)*0.7) {
				t.Errorf("%.1f Mbit/s through a %g Mbit/s cap", rate*8/1e6, float64(bits)/1e6)
			}
		})
	}
}
