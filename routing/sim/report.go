package sim

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Report is what a simulation measured.
type Report struct {
	Config        Config
	FormationTime time.Duration
	MeanDegree    float64
	LinkLengths   []LengthBucket
	Probe         Measurement // success and hops, no caching of the probe keys
	Anonymity     []HTLAnonymity
	// TimeoutAnonymity is the same share by the timeout requests arrived with, read as the
	// number of hops they have made since their originator.
	TimeoutAnonymity []TimeoutAnonymity
	PopularFirst     float64 // median hops of the search of the first request for a popular key
	PopularLast      float64 // and of its PopularRequests-th request
	Killed           []KillMeasurement
	Volume           *VolumeReport         // the volume test, if Config.Downloads was set
	Bandwidth        *BandwidthMeasurement // the bandwidth test, if Config.BandwidthBlocks was set
	Elapsed          time.Duration
	PeakRSS          uint64 // bytes
}

// Measurement is the outcome of a batch of requests.
type Measurement struct {
	Requests, Successes int
	SuccessRate         float64
	TotalHops           Percentiles    // every link the block crossed: the tunnel's and the search's
	TunnelHops          Percentiles    // links of the requester's tunnel (spec §18.11)
	Hops                Percentiles    // links of the search, from the tunnel's end to the node that had the block
	TimePerRequest      time.Duration  // wall time, with Config.Parallel requests in flight
	Failures            map[string]int // failed requests by error
}

func (m Measurement) String() string {
	return fmt.Sprintf("%d/%d found (%.2f%%); hops in all median %.0f p90 %.0f p99 %.0f: tunnel median %.0f p99 %.0f, search after it median %.0f p90 %.0f p99 %.0f; %v per request",
		m.Successes, m.Requests, 100*m.SuccessRate, m.TotalHops.Median, m.TotalHops.P90, m.TotalHops.P99,
		m.TunnelHops.Median, m.TunnelHops.P99, m.Hops.Median, m.Hops.P90, m.Hops.P99, m.TimePerRequest.Round(time.Microsecond)) + failures(m.Failures)
}

// Percentiles summarise a distribution.
type Percentiles struct {
	Mean, Median, P90, P99, Max float64
}

// KillMeasurement is a Measurement after a fraction of the nodes was killed.
type KillMeasurement struct {
	Fraction float64
	Measurement
	KeysLost int // probe keys no live node held any more
}

// LengthBucket is the share of links whose length (circular distance) lies in [Lo, Hi), and
// the share an ideal 1/d (Kleinberg) distribution would put there.
type LengthBucket struct {
	Lo, Hi          float64
	Fraction, Ideal float64
}

// HTLAnonymity is, for requests that arrived with one HTL value, the share whose sender was
// their originator: what a neighbour can infer from the HTL alone. Bound is 1/(1+degree/2).
type HTLAnonymity struct {
	HTL                      int
	Arrivals, FromOriginator int
	P, Bound                 float64
}

// TimeoutAnonymity is, for requests whose timeout says they have made Hops hops (the last
// class: that many or more), the share whose sender was their originator.
type TimeoutAnonymity struct {
	Hops                     int
	Arrivals, FromOriginator int
	P                        float64
}

// String formats the report for a terminal and for docs/performance.md.
func (r *Report) String() string {
	var b strings.Builder
	c := r.Config
	kind := "opennet (announcements + path folding)"
	if c.Darknet {
		kind = "darknet (friend graph + location swapping)"
	}
	fmt.Fprintf(&b, "Lethe routing simulation: %d nodes, %s, degree %d (mean %.1f), HTL 18, seed %d\n", c.Nodes, kind, c.Degree, r.MeanDegree, c.Seed)
	fmt.Fprintf(&b, "topology formed in %v; whole run %v; peak memory %d MiB\n\n", r.FormationTime.Round(time.Second), r.Elapsed.Round(time.Second), r.PeakRSS>>20)
	fmt.Fprintf(&b, "probe keys, no caching: %v\n", r.Probe)
	for _, k := range r.Killed {
		fmt.Fprintf(&b, "after killing %.0f%% of nodes: %v; %d probe keys lost with their nodes\n", 100*k.Fraction, k.Measurement, k.KeysLost)
	}
	if c.PopularKeys > 0 {
		fmt.Fprintf(&b, "popular key, caching on: median hops of the search %.1f at the 1st request, %.1f at the %dth\n", r.PopularFirst, r.PopularLast, c.PopularRequests)
	}
	if r.Bandwidth != nil {
		fmt.Fprintf(&b, "%v\n", r.Bandwidth)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "link lengths (share of links per octave of circular distance; ideal 1/d is flat):\n")
	for _, l := range r.LinkLengths {
		if l.Fraction == 0 && l.Ideal == 0 {
			continue
		}
		fmt.Fprintf(&b, "  [%.6f, %.6f)  %5.1f%%  ideal %5.1f%%  %s\n", l.Lo, l.Hi, 100*l.Fraction, 100*l.Ideal, strings.Repeat("#", int(100*l.Fraction+0.5)))
	}
	fmt.Fprintf(&b, "\nanonymity: P(the sender originated the request | HTL it arrived with); bound 1/(1+degree/2)\n")
	for _, a := range r.Anonymity {
		ok := boundVerdict(a.FromOriginator, a.Arrivals, a.Bound)
		fmt.Fprintf(&b, "  HTL %2d: %7d arrivals, %6d from the originator: P = %.4f (bound %.4f) %s\n", a.HTL, a.Arrivals, a.FromOriginator, a.P, a.Bound, ok)
	}
	if len(r.TimeoutAnonymity) > 0 {
		fmt.Fprintf(&b, "\nanonymity: P(the sender originated the request | hops its timeout implies); every hop takes %v off\n", timeoutStep)
		for _, a := range r.TimeoutAnonymity {
			ok := "ok"
			if len(r.Anonymity) > 0 {
				ok = boundVerdict(a.FromOriginator, a.Arrivals, r.Anonymity[0].Bound)
			}
			more := " "
			if a.Hops == maxTimeoutHops {
				more = "+"
			}
			fmt.Fprintf(&b, "  %2d%s hops: %7d arrivals, %6d from the originator: P = %.4f %s\n", a.Hops, more, a.Arrivals, a.FromOriginator, a.P, ok)
		}
	}
	if r.Volume != nil {
		b.WriteString("\n")
		b.WriteString(r.Volume.String())
	}
	return b.String()
}

func failures(f map[string]int) string {
	if len(f) == 0 {
		return ""
	}
	var parts []string
	for err, n := range f {
		parts = append(parts, fmt.Sprintf("%d %s", n, err))
	}
	slices.Sort(parts)
	return "; failed: " + strings.Join(parts, ", ")
}

// AboveBound reports whether k of n arrivals from the originator show P(originator) above
// bound beyond sampling error: whether the one-sided 99% lower confidence limit of the
// proportion (Wilson score interval) lies above it. A small network sees a few hundred
// arrivals at HTL 17, where one standard deviation is about a fifth of the bound, so the raw
// share crosses the bound by chance in one run in several while the rule holds; a share truly
// above the bound still shows, and at the full-size runs' tens of thousands of arrivals the
// limit is within a few thousandths of the share.
func AboveBound(k, n int, bound float64) bool {
	if n == 0 {
		return false
	}
	const z = 2.326 // one-sided 99%
	p, nf := float64(k)/float64(n), float64(n)
	centre := p + z*z/(2*nf)
	spread := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf))
	return (centre-spread)/(1+z*z/nf) > bound
}

// boundVerdict is how the report marks a share against its bound.
func boundVerdict(k, n int, bound float64) string {
	switch {
	case AboveBound(k, n, bound):
		return "ABOVE BOUND"
	case n > 0 && float64(k)/float64(n) > bound:
		return "ok (above by less than its sampling error)"
	}
	return "ok"
}
