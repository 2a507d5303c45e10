package proxy

import (
	"crypto/ed25519"
	"regexp"
	"strings"
	"testing"
	"time"

	"lethe/crypto"
)

var statusTime = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func nodeID(seed byte) crypto.NodeID {
	var id crypto.NodeID
	copy(id[:], ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey))
	id[0] = seed
	return id
}

// sampleStatus is a node with a few peers, a half-full store and an hour of traffic, as
// it is at statusTime.
func sampleStatus() Status { return sampleStatusAt(statusTime) }

func sampleStatusAt(now time.Time) Status {
	st := Status{
		NodeID: nodeID(1), Location: 0.3125, Opennet: true, Version: "0.1.0", Started: now.Add(-3 * time.Hour),
		Store:  AreaStatus{Blocks: 16000, Bytes: 512 << 20, Bound: 1 << 30},
		Cache:  AreaStatus{Blocks: 3000, Bytes: 96 << 20, Bound: 256 << 20},
		Errors: []string{"Peer 7fQ2… closed the link: it runs an older version of Lethe."},
		Reach:  "punchable", ReachAdvice: "to be reached directly, turn on UPnP or NAT-PMP on the router",
	}
	for i, l := range []crypto.Location{0.30, 0.33, 0.35, 0.41, 0.62, 0.95} {
		st.Peers = append(st.Peers, PeerStatus{
			ID: nodeID(byte(10 + i)), Location: l, Darknet: i%2 == 0,
			BytesIn: int64(i+1) << 20, BytesOut: int64(i+2) << 19, Since: now.Add(-time.Duration(i+1) * time.Hour),
		})
	}
	for i := range 61 {
		st.Bandwidth = append(st.Bandwidth, BandwidthSample{
			Time:    now.Add(time.Duration(i-60) * time.Minute),
			BytesIn: int64(60+30*(i%7)) << 10 * 60, BytesOut: int64(40+20*(i%5)) << 10 * 60,
		})
	}
	return st
}

// TestStatusPage: the status page shows the node, its peers on a circle drawn in SVG, store
// and cache use, bandwidth graphs and the recent errors.
func TestStatusPage(t *testing.T) {
	p := newTestProxy(t, Config{Status: sampleStatus, Now: func() time.Time { return statusTime }})
	st := sampleStatus()
	resp, body := p.get(t, "/status")
	if resp.StatusCode != 200 {
		t.Fatalf("status: %d", resp.StatusCode)
	}
	for _, want := range []string{
		shortID(st.NodeID), "<th>Version</th><td>0.1.0</td>", "0.312500", "3 h 0 min", "6 (3 friends, 3 strangers)",
		`<svg xmlns="http://www.w3.org/2000/svg" class="circle"`, `<svg xmlns="http://www.w3.org/2000/svg" class="bandwidth upload"`,
		`<svg xmlns="http://www.w3.org/2000/svg" class="bandwidth download"`, "no limit", "no monthly cap",
		"512.0 MiB of 1.0 GiB", `<meter min="0" max="100" value="50">`, "96.0 MiB of 256.0 MiB",
		"older version of Lethe", "0.9500", "<polyline",
		"behind a NAT, reached through hole punching", "turn on UPnP or NAT-PMP on the router",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the status page lacks %q", want)
		}
	}
	// One dot per peer and one for the node.
	if n := len(regexp.MustCompile(`<circle cx="[0-9.]+" cy="[0-9.]+" r="[57]"`).FindAllString(body, -1)); n != len(st.Peers)+1 {
		t.Errorf("%d dots on the circle, want %d", n, len(st.Peers)+1)
	}
	// The last interval: 60+30*(60%7) KiB a second in, 40+20*(60%5) out.
	if !strings.Contains(body, "in 180.0 KiB/s") || !strings.Contains(body, "out 40.0 KiB/s") {
		t.Errorf("the last interval's rates are missing")
	}
	// Addresses stay hidden unless the node gives them.
	if strings.Contains(body, "<th>Address</th>") {
		t.Error("an address column without addresses")
	}
}

func TestStatusPageWithoutNode(t *testing.T) {
	p := newTestProxy(t, Config{})
	_, body := p.get(t, "/status")
	if !strings.Contains(body, "no node information") {
		t.Errorf("status without a node:\n%s", body)
	}
}

func TestRates(t *testing.T) {
	in, out, times := rates([]BandwidthSample{
		{Time: statusTime, BytesIn: 999},
		{Time: statusTime.Add(10 * time.Second), BytesIn: 1000, BytesOut: 500},
		{Time: statusTime.Add(10 * time.Second), BytesIn: 5}, // no time passed: skipped
		{Time: statusTime.Add(30 * time.Second), BytesIn: 4000, BytesOut: -1},
	})
	if len(times) != 3 || in[0] != 100 || in[1] != 100 || out[1] != 50 || in[2] != 200 || out[2] != 0 {
		t.Errorf("rates: in %v out %v at %v", in, out, times)
	}
	in, _, times = rates([]BandwidthSample{{Time: statusTime}, {Time: statusTime.Add(10 * time.Second)}, {Time: statusTime.Add(20 * time.Second)}})
	idle := string(rateSVG(rateGraph{name: "download", times: times, rates: in}))
	for _, label := range []string{">1.0 KiB/s<", ">512 B/s<", ">0 B/s<"} {
		if !strings.Contains(idle, label) {
			t.Errorf("an idle node's bandwidth axis lacks the label %q:\n%s", label, idle)
		}
	}
	for v, want := range map[float64]float64{130: 200, 1000: 1024, 300 << 10: 500 << 10, 5 << 20: 5 << 20} {
		if got := niceRate(v); got != want {
			t.Errorf("niceRate(%v) = %v, want %v", v, got, want)
		}
	}
}

// TestStatusPageLimitLines: each bandwidth graph draws its limit as a dashed line, where
// traffic held at the limit runs along it; once the monthly cap is reached the line is the
// trickle the links run at, and the month's use is shown against the cap.
func TestStatusPageLimitLines(t *testing.T) {
	const up, down = 1 << 20, 2 << 20
	atLimits := func(st Status) Status {
		// The last half hour of traffic runs at the limits.
		for i := range st.Bandwidth[30:] {
			st.Bandwidth[30+i].BytesOut, st.Bandwidth[30+i].BytesIn = up*60, down*60
		}
		st.UploadLimit, st.DownloadLimit, st.CappedRate = up, down, 1<<10
		st.MonthlyCap, st.MonthUsed = 500<<30, 125<<30
		return st
	}
	for _, tc := range []struct {
		name     string
		status   func() Status
		upLine   string // the label of each graph's line
		downLine string
		month    []string
	}{
		{name: "limits", status: func() Status { return atLimits(sampleStatus()) },
			upLine: "limit 1.0 MiB/s", downLine: "limit 2.0 MiB/s",
			month: []string{"125.0 GiB of the monthly cap of 500.0 GiB", `<meter min="0" max="100" value="25">`}},
		{name: "cap reached", status: func() Status {
			st := atLimits(sampleStatus())
			st.CapReached, st.MonthUsed = true, 500<<30
			for i := range st.Bandwidth[30:] {
				st.Bandwidth[30+i].BytesOut, st.Bandwidth[30+i].BytesIn = 1<<10*60, 1<<10*60
			}
			return st
		}, upLine: "monthly cap reached: 1.0 KiB/s", downLine: "monthly cap reached: 1.0 KiB/s",
			month: []string{"500.0 GiB of the monthly cap of 500.0 GiB", "<strong>Monthly cap reached:</strong>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestProxy(t, Config{Status: tc.status, Now: func() time.Time { return statusTime }})
			_, body := p.get(t, "/status")
			for name, label := range map[string]string{"upload": tc.upLine, "download": tc.downLine} {
				m := regexp.MustCompile(`(?s)<svg[^>]*class="bandwidth ` + name + `".*?</svg>`).FindString(body)
				if m == "" {
					t.Fatalf("no %s graph", name)
				}
				line := regexp.MustCompile(`<line class="limit" x1="[0-9.]+" y1="([0-9.]+)"`).FindStringSubmatch(m)
				if line == nil || !strings.Contains(m, ">"+label+"<") {
					t.Errorf("the %s graph lacks its limit line labelled %q:\n%s", name, label, m)
					continue
				}
				// The traffic of the last half hour was at the limit: the polyline's last
				// point lies on the line.
				pts := strings.Fields(regexp.MustCompile(`points="([^"]+)"`).FindStringSubmatch(m)[1])
				if last := strings.Split(pts[len(pts)-1], ",")[1]; last != line[1] {
					t.Errorf("the %s graph's traffic at the limit is at y %s, its limit line at %s", name, last, line[1])
				}
			}
			for _, want := range tc.month {
				if !strings.Contains(body, want) {
					t.Errorf("the status page lacks %q", want)
				}
			}
		})
	}
}
