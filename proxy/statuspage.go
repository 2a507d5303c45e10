package proxy

import (
	"fmt"
	"html/template"
	"net/http"
	"slices"
)

// statusView is the status page's data: the node's snapshot, formatted.
type statusView struct {
	Has              bool
	NodeID, Short    string
	Location         string
	OpennetOn        bool
	Darknet, Opennet int // peers of each kind
	Version, Uptime  string
	Peers            []peerView
	Addresses        bool // some peer's address is to be shown
	Circle           template.HTML
	Upload, Download template.HTML // the traffic each way with its limit
	RateIn, RateOut  string
	Store, Cache     areaView
	Errors           []string
	Reach, Advice    string
	Limits           string // the links' limits and this month's use, in words
	CapReached       bool
	Month            monthView
}

// monthView is the month's use against the monthly cap.
type monthView struct {
	Used, Cap int64 // bytes; Cap 0: none
	Percent   int
}

type peerView struct {
	ID, Short, Location, Address, Since string
	Darknet                             bool
	In, Out                             int64
}

type areaView struct {
	Blocks, Bytes, Bound int64
	Percent              int
}

// reachWords says each reachability state in words.
var reachWords = map[string]string{
	"public":      "public: peers reach this node directly",
	"mapped":      "mapped: the router forwards a port to this node",
	"punchable":   "behind a NAT, reached through hole punching",
	"unreachable": "behind a NAT no peer can punch through: traffic goes through peers",
	"unknown":     "not known yet",
}

func (s *Server) statusPage(w http.ResponseWriter, r *http.Request) {
	v := statusView{}
	if s.cfg.Status != nil {
		v = s.statusView(s.cfg.Status())
	}
	s.render(w, r, http.StatusOK, "status.html", view{Title: "Status", Nav: "status", Refresh: 10, Data: v})
}

func (s *Server) statusView(st Status) statusView {
	now := s.cfg.Now()
	v := statusView{
		Has:        true,
		NodeID:     st.NodeID.String(),
		Short:      shortID(st.NodeID),
		Location:   fmt.Sprintf("%.6f", float64(st.Location)),
		OpennetOn:  st.Opennet,
		Version:    st.Version,
		Limits:     limitsText(st),
		CapReached: st.CapReached,
		Circle:     circleSVG(st.Location, st.Peers),
		Month:      month(st),
		Store:      area(st.Store),
		Cache:      area(st.Cache),
		Errors:     st.Errors,
		Reach:      reachWords[st.Reach],
		Advice:     st.ReachAdvice,
	}
	if v.Reach == "" && st.Reach != "" {
		v.Reach = st.Reach
	}
	if !st.Started.IsZero() {
		v.Uptime = roundDuration(now.Sub(st.Started))
	}
	peers := slices.Clone(st.Peers)
	slices.SortFunc(peers, func(a, b PeerStatus) int {
		da, db := st.Location.Distance(a.Location), st.Location.Distance(b.Location)
		switch {
		case da < db:
			return -1
		case da > db:
			return 1
		}
		return 0
	})
	for _, p := range peers {
		if p.Darknet {
			v.Darknet++
		} else {
			v.Opennet++
		}
		pv := peerView{
			ID: p.ID.String(), Short: shortID(p.ID), Location: fmt.Sprintf("%.4f", float64(p.Location)),
			Address: p.Address, Darknet: p.Darknet, In: p.BytesIn, Out: p.BytesOut,
		}
		if !p.Since.IsZero() {
			pv.Since = roundDuration(now.Sub(p.Since))
		}
		v.Addresses = v.Addresses || p.Address != ""
		v.Peers = append(v.Peers, pv)
	}
	in, out, times := rates(st.Bandwidth)
	if len(in) > 0 {
		v.RateIn = humanBytes(int64(in[len(in)-1])) + "/s"
		v.RateOut = humanBytes(int64(out[len(out)-1])) + "/s"
	}
	v.Upload = rateSVG(rateGraph{name: "upload", colour: "#d98a2b", times: times, rates: out, limit: float64(st.UploadLimit)}.under(st))
	v.Download = rateSVG(rateGraph{name: "download", colour: "#2f5d8a", times: times, rates: in, limit: float64(st.DownloadLimit)}.under(st))
	return v
}

// under sets the graph's limit to what the links run at once the monthly cap is reached, if
// it is and that is lower.
func (g rateGraph) under(st Status) rateGraph {
	if c := float64(st.CappedRate); st.CapReached && c > 0 && (g.limit == 0 || c < g.limit) {
		g.limit, g.capped = c, true
	}
	return g
}

func month(st Status) monthView {
	m := monthView{Used: st.MonthUsed, Cap: st.MonthlyCap}
	if m.Cap > 0 {
		m.Percent = int(min(100, 100*m.Used/m.Cap))
	}
	return m
}

func area(a AreaStatus) areaView {
	v := areaView{Blocks: a.Blocks, Bytes: a.Bytes, Bound: a.Bound}
	if a.Bound > 0 {
		v.Percent = int(min(100, 100*a.Bytes/a.Bound))
	}
	return v
}

// limitsText says the links' limits and this month's use: "upload 1.0 MiB/s, download no
// limit, monthly cap 500 GiB (3.2 GiB used)".
func limitsText(st Status) string {
	rate := func(n int64) string {
		if n <= 0 {
			return "no limit"
		}
		return humanBytes(n) + "/s"
	}
	capText := "no monthly cap"
	if st.MonthlyCap > 0 {
		capText = "monthly cap " + humanBytes(st.MonthlyCap)
	}
	return fmt.Sprintf("upload %s, download %s, %s (%s used this month)", rate(st.UploadLimit), rate(st.DownloadLimit), capText, humanBytes(st.MonthUsed))
}
