package proxy

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
	"time"

	"lethe/crypto"
)

// The status page's pictures are SVG drawn on the server (spec §20.5): no script, and
// nothing in them but numbers the proxy formats itself and names it escapes.

// circleSVG draws the routing circle: this node's location and its peers', each joined to
// the node by a line, so that the spread of the peers (many near, a few far: a small world)
// shows at a glance.
func circleSVG(self crypto.Location, peers []PeerStatus) template.HTML {
	const size, r = 240.0, 96.0
	c := size / 2
	at := func(l crypto.Location) (float64, float64) {
		a := 2*math.Pi*float64(l) - math.Pi/2 // location 0 at the top, clockwise
		return c + r*math.Cos(a), c + r*math.Sin(a)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="circle" width="%g" height="%g" viewBox="0 0 %g %g" role="img" aria-label="Locations of this node and its peers">`, size, size, size, size)
	fmt.Fprintf(&b, `<circle cx="%g" cy="%g" r="%g" fill="none" stroke="#c7d0d6" stroke-width="2"/>`, c, c, r)
	for _, t := range []struct {
		l     float64
		label string
	}{{0, "0"}, {0.25, "0.25"}, {0.5, "0.5"}, {0.75, "0.75"}} {
		a := 2*math.Pi*t.l - math.Pi/2
		x, y := c+(r+14)*math.Cos(a), c+(r+14)*math.Sin(a)+4
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="10" text-anchor="middle" fill="#5f6b73">%s</text>`, x, y, t.label)
	}
	sx, sy := at(self)
	for _, p := range peers {
		x, y := at(p.Location)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#9fb3c4" stroke-width="1"/>`, sx, sy, x, y)
	}
	for _, p := range peers {
		x, y := at(p.Location)
		colour := "#7fa650"
		if p.Darknet {
			colour = "#2f5d8a"
		}
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="5" fill="%s"><title>%s at %.4f</title></circle>`,
			x, y, colour, html.EscapeString(shortID(p.ID)), float64(p.Location))
	}
	fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="7" fill="#c0392b"><title>this node at %.4f</title></circle>`, sx, sy, float64(self))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// rateGraph is one direction of the node's traffic as the status page draws it: the rates of
// the recent intervals and the limit the links run under that way.
type rateGraph struct {
	name   string // "upload", "download"
	colour string
	times  []time.Time
	rates  []float64 // bytes per second, at times
	limit  float64   // bytes per second the links may move this way now; 0: none
	capped bool      // the limit is the monthly cap's trickle
}

// limitLabel says the limit the graph's dashed line marks.
func (g rateGraph) limitLabel() string {
	switch {
	case g.capped:
		return "monthly cap reached: " + humanBytes(int64(g.limit)) + "/s"
	case g.limit > 0:
		return "limit " + humanBytes(int64(g.limit)) + "/s"
	}
	return "no limit"
}

// rateSVG draws one direction's traffic as rates over the intervals of the samples, with the
// time axis from the oldest sample to the newest, and the limit as a dashed line across: the
// graph's top is above the limit, so that the line always shows and traffic held by the
// limit runs along it.
func rateSVG(g rateGraph) template.HTML {
	const w, h, left, bottom, top = 640.0, 180.0, 64.0, 24.0, 10.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="bandwidth %s" width="%g" height="%g" viewBox="0 0 %g %g" role="img" aria-label="%s rate, %s">`,
		g.name, w, h, w, h, g.name, html.EscapeString(g.limitLabel()))
	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="%g" height="%g" fill="#fff" stroke="#d8dee2"/>`, left, top, w-left-8, h-top-bottom)
	if len(g.times) < 2 {
		fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="12" text-anchor="middle" fill="#5f6b73">not enough samples yet</text></svg>`, (w+left)/2, h/2)
		return template.HTML(b.String())
	}
	// The graph's top is at least 1 KiB/s, so that an idle node's axis reads "1.0 KiB/s,
	// 512 B/s, 0 B/s" rather than a top of 1 B/s whose half rounds to 0; and a tenth above
	// the limit, so that the limit's line and its label clear the top.
	peak := max(1024.0, 1.1*g.limit)
	for _, v := range g.rates {
		peak = max(peak, v)
	}
	peak = niceRate(peak)
	t0, t1 := g.times[0], g.times[len(g.times)-1]
	span := t1.Sub(t0).Seconds()
	x := func(t time.Time) float64 { return left + (w-left-8)*t.Sub(t0).Seconds()/span }
	y := func(v float64) float64 { return top + (h-top-bottom)*(1-v/peak) }
	for _, frac := range []float64{0, 0.5, 1} {
		yy := y(peak * frac)
		fmt.Fprintf(&b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#eef1f3"/>`, left, yy, w-8, yy)
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" font-size="10" text-anchor="end" fill="#5f6b73">%s/s</text>`, left-4, yy+3, humanBytes(int64(peak*frac)))
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="10" fill="#5f6b73">%s ago</text>`, left, h-6, roundDuration(t1.Sub(t0)))
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="10" text-anchor="end" fill="#5f6b73">now</text>`, w-8, h-6)
	var pts strings.Builder
	for i, v := range g.rates {
		fmt.Fprintf(&pts, "%.1f,%.1f ", x(g.times[i]), y(v))
	}
	fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, g.colour, strings.TrimSpace(pts.String()))
	if g.limit > 0 {
		yy := y(g.limit)
		fmt.Fprintf(&b, `<line class="limit" x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#c0392b" stroke-width="1.5" stroke-dasharray="6 4"/>`, left, yy, w-8, yy)
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" font-size="10" text-anchor="end" fill="#c0392b">%s</text>`, w-12, yy-4, html.EscapeString(g.limitLabel()))
	} else {
		fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="10" text-anchor="end" fill="#5f6b73">no limit</text>`, w-12, top+12)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// rates turns samples into bytes per second over each interval, at the interval's end. The
// first sample only marks where the second's interval began; samples out of order or with
// no time between them are skipped.
func rates(samples []BandwidthSample) (in, out []float64, times []time.Time) {
	for i := 1; i < len(samples); i++ {
		d := samples[i].Time.Sub(samples[i-1].Time).Seconds()
		if d <= 0 {
			continue
		}
		if len(times) == 0 {
			// The line starts at the first interval's beginning, at its rate.
			times = append(times, samples[i-1].Time)
			in = append(in, float64(max(samples[i].BytesIn, 0))/d)
			out = append(out, float64(max(samples[i].BytesOut, 0))/d)
		}
		times = append(times, samples[i].Time)
		in = append(in, float64(max(samples[i].BytesIn, 0))/d)
		out = append(out, float64(max(samples[i].BytesOut, 0))/d)
	}
	return in, out, times
}

// niceRate rounds a graph's top up to 1, 2 or 5 times a power of ten in the binary unit the
// labels use (B, KiB, MiB, …), so that the labels read "500.0 KiB/s".
func niceRate(v float64) float64 {
	unit := 1.0
	for v/unit >= 1000 {
		unit *= 1024
	}
	return niceCeil(v/unit) * unit
}

// niceCeil rounds a graph's top up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// shortID is a node ID as people compare them: its first characters.
func shortID(id crypto.NodeID) string {
	s := id.String()
	return s[:min(len(s), 10)]
}
