package main

import (
	"context"
	"strings"
	"testing"

	"lethe/node"
)

func TestStatusOfTestnetNode(t *testing.T) {
	net := network(t)
	r := lethe(t, context.Background(), net.vars, nil, "status")
	r.wantCode(t, exitOK)
	for _, want := range []string{"test network", "version          Lethe " + node.Version, "FCP 2.0", "limits           upload unlimited", "store ", "cache ", "traffic ", "friend"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestStatusNoNode(t *testing.T) {
	r := lethe(t, context.Background(), nil, nil, "status", "--dir", t.TempDir())
	r.wantCode(t, exitNoNode)
	if !strings.Contains(r.stderr, "no node is running") || !strings.Contains(r.stderr, "lethe: hint: start one") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

func TestStatusShowsAFullDisk(t *testing.T) {
	var b strings.Builder
	printStatus(&b, node.Status{ID: "id", DiskFull: true, DiskFullWrites: 7})
	if !strings.Contains(b.String(), "DISK FULL") || !strings.Contains(b.String(), "refused 7 writes") {
		t.Errorf("status of a node whose disk is full:\n%s", b.String())
	}
	b.Reset()
	printStatus(&b, node.Status{ID: "id"})
	if strings.Contains(b.String(), "DISK FULL") {
		t.Errorf("status of a node with room:\n%s", b.String())
	}
}

// lethe status shows the version, the bandwidth limits and the month's use, and says when the
// monthly cap is reached and what lifts it.
func TestStatusShowsLimits(t *testing.T) {
	st := node.Status{ID: "id", Build: node.Build(), Links: node.LinkUsage{UploadLimit: 1 << 20, DownloadLimit: 2 << 20,
		MonthlyCap: 500 << 30, MonthUsed: 500 << 30, Month: "2026-12", CapReached: true}}
	var b strings.Builder
	printStatus(&b, st)
	for _, want := range []string{"version          Lethe " + node.Version,
		"limits           upload 1MiB/s, download 2MiB/s, monthly cap 500GiB; 500GiB used in 2026-12",
		"MONTHLY CAP      reached", "raise --monthly-cap"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
	st.Links.CapReached, st.Links.MonthUsed = false, 1<<30
	b.Reset()
	printStatus(&b, st)
	if strings.Contains(b.String(), "MONTHLY CAP") || !strings.Contains(b.String(), "1GiB used in 2026-12") {
		t.Errorf("status below the cap:\n%s", b.String())
	}
}

// lethe status says how other nodes reach the node, and what the user can do about it.
func TestStatusShowsReachability(t *testing.T) {
	for _, tc := range []struct {
		reach node.ReachStatus
		want  []string
	}{
		{node.ReachStatus{State: node.ReachMapped, Mapper: "NAT-PMP", Mapped: []string{"udp 198.51.100.4:41000"}, Advice: "nothing to do"},
			[]string{"reachability     mapped", "NAT-PMP mapped udp 198.51.100.4:41000", "nothing to do"}},
		{node.ReachStatus{State: node.ReachUnreachable, NAT: "symmetric", PunchesTried: 2, Advice: "no direct link from other NATed nodes is possible"},
			[]string{"reachability     unreachable", "0 of 2 hole punches linked", "no direct link"}},
		{node.ReachStatus{State: node.ReachPunchable, Outside: "198.51.100.9:41000", Advice: "forward UDP and TCP port 41000"},
			[]string{"punchable, seen from outside at 198.51.100.9:41000", "forward UDP and TCP port 41000"}},
	} {
		var b strings.Builder
		printStatus(&b, node.Status{ID: "id", Reach: tc.reach})
		for _, w := range tc.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("status lacks %q:\n%s", w, b.String())
			}
		}
	}
}
