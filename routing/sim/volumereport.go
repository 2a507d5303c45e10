package sim

import (
	"fmt"
	"strings"
)

// AUCTarget is the largest area under the ROC curve of a single observer's volume test that
// docs/design.md §5 allows: near chance.
const AUCTarget = 0.6

// String formats the volume test's tables for a terminal and for docs/performance.md.
func (v *VolumeReport) String() string {
	var b strings.Builder
	t, u := &v.Downloader, &v.End
	fmt.Fprintf(&b, "volume test: %d downloads of %d-block files by random nodes; the adversary knows every key of the file\n", v.Downloads, v.FileBlocks)
	row := func(label string, a, c string) {
		fmt.Fprintf(&b, "  %-62s %-22s %s\n", label, a, c)
	}
	auc := func(r ROC) string {
		verdict := ""
		if r.AUC() > AUCTarget {
			verdict = " ABOVE TARGET"
		}
		return fmt.Sprintf("%.3f%s", r.AUC(), verdict)
	}
	share := func(s Share) string { return fmt.Sprintf("%.3f (of %.0f)", s.P(), s.Of) }
	row("", "the downloader", "its tunnel's end (control)")
	row("blocks found", fmt.Sprintf("%d/%d", t.Found, t.Blocks), fmt.Sprintf("%d/%d", u.Found, u.Blocks))
	row("neighbours a downloader sent requests to, mean", fmt.Sprintf("%.2f", t.DownloaderFanout.P()), fmt.Sprintf("%.2f", u.DownloaderFanout.P()))
	fmt.Fprintf(&b, "single observer: a neighbour's score is the share of the file it asked the observer for\n")
	fmt.Fprintf(&b, "  candidates: all the observer's neighbours (target: AUC ≤ %.1f)\n", AUCTarget)
	row("AUC, observer next to the downloader", auc(t.OneHop), auc(u.OneHop))
	row("AUC, observer within two hops of it", auc(t.TwoHops), auc(u.TwoHops))
	tpr := func(r ROC) string { return fmt.Sprintf("%.3f", r.At(0.01).TPR) }
	row("share of downloaders named at ≤ 1% false positives, next to it", tpr(t.OneHop), tpr(u.OneHop))
	fmt.Fprintf(&b, "  candidates: only neighbours that sent the observer some of the file\n")
	row("AUC, observer next to the downloader", fmt.Sprintf("%.3f", t.OneHopSenders.AUC()), fmt.Sprintf("%.3f", u.OneHopSenders.AUC()))
	row("AUC, observer within two hops of it", fmt.Sprintf("%.3f", t.TwoHopsSenders.AUC()), fmt.Sprintf("%.3f", u.TwoHopsSenders.AUC()))
	fmt.Fprintf(&b, "  P(the observer's top-scored neighbour is the downloader | it saw some of the file)\n")
	row("observer next to the downloader", share(t.TopOneHop), share(u.TopOneHop))
	row("observer within two hops", share(t.TopTwoHops), share(u.TopTwoHops))
	row("any observer", share(t.TopAnywhere), share(u.TopAnywhere))
	row("P(X is the downloader | X asked the observer for ≥ half the file)", share(t.FullVolume), share(u.FullVolume))
	for h := len(t.HTLOfFullVolume) - 1; h >= 0; h-- {
		if s, o := t.HTLOfFullVolume[h], u.HTLOfFullVolume[h]; s.Of > 0 || o.Of > 0 {
			row(fmt.Sprintf("  of which X's first request came at HTL %d", h), share(s), share(o))
		}
	}
	if len(t.Tunnel) > 0 {
		b.WriteString(formatTunnelCollusion(t.Tunnel, v.Degree))
	}
	fmt.Fprintf(&b, "ROC of the single observer next to the downloader (all its neighbours): name X if it asked for ≥ t blocks\n")
	for i, m := range []*VolumeMeasurement{t, u} {
		kind := "the downloader"
		if i == 1 {
			kind = "its tunnel's end (control)"
		}
		fmt.Fprintf(&b, "  %s:", kind)
		for _, pt := range thin(m.OneHop.Curve(), 8) {
			fmt.Fprintf(&b, " t=%d TPR %.3f FPR %.4f;", pt.Threshold, pt.TPR, pt.FPR)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// thin keeps at most n points of a curve, evenly spread, always the last.
func thin(pts []ROCPoint, n int) []ROCPoint {
	if len(pts) <= n {
		return pts
	}
	out := make([]ROCPoint, 0, n)
	for i := range n {
		out = append(out, pts[(i+1)*len(pts)/n-1])
	}
	return out
}
