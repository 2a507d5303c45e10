package sim

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestSmallOpennet runs a small opennet simulation: routing must find nearly every probe key
// and the anonymity bound must hold at every HTL.
func TestSmallOpennet(t *testing.T) {
	cfg := Config{Nodes: 300, Degree: 12, Seed: 1, ProbeRequests: 500, FormationRequests: 5, Log: testLog{t}}
	if raceEnabled {
		cfg.Nodes, cfg.ProbeRequests = 120, 200
	}
	rep, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.String())
	if rep.Probe.SuccessRate < 0.98 {
		t.Errorf("success %.3f, want ≥ 0.98", rep.Probe.SuccessRate)
	}
	for _, a := range rep.Anonymity {
		if AboveBound(a.FromOriginator, a.Arrivals, a.Bound) {
			t.Errorf("HTL %d (%d arrivals): P(originator) = %.3f above the bound %.3f beyond sampling error", a.HTL, a.Arrivals, a.P, a.Bound)
		}
	}
}

// TestScale runs the full-size simulations when LETHE_SIM is set, e.g.
// LETHE_SIM=10000 go test ./routing/sim -run TestScale -v -timeout 30m
func TestScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("LETHE_SIM"))
	if n == 0 {
		t.Skip("LETHE_SIM not set: the full-size simulation runs only on request")
	}
	cfg := Config{Nodes: n, Degree: 20, Seed: 1, Kill: []float64{0.1, 0.3}, Log: testLog{t}}
	fromEnv(&cfg)
	rep, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.String())
}

// fromEnv applies the settings of a full-size simulation given in the environment:
// LETHE_SIM_FORMATION (formation requests per node), LETHE_SIM_DARKNET (a friend graph; nodes
// are not killed), LETHE_SIM_BANDWIDTH (blocks of the bandwidth test's download, every uplink
// capped at LETHE_SIM_UPLINK KiB/s, default 512) and LETHE_SIM_TUNNELS (tunnels a session
// may use; 1 shows what one path gives).
func fromEnv(cfg *Config) {
	if f, _ := strconv.Atoi(os.Getenv("LETHE_SIM_FORMATION")); f > 0 {
		cfg.FormationRequests = f
	}
	if b, _ := strconv.Atoi(os.Getenv("LETHE_SIM_BANDWIDTH")); b > 0 {
		cfg.BandwidthBlocks, cfg.UplinkCap = b, 512<<10
		if u, _ := strconv.Atoi(os.Getenv("LETHE_SIM_UPLINK")); u > 0 {
			cfg.UplinkCap = float64(u << 10)
		}
	}
	if k, _ := strconv.Atoi(os.Getenv("LETHE_SIM_TUNNELS")); k > 0 {
		cfg.MaxTunnels = k
	}
	if os.Getenv("LETHE_SIM_DARKNET") != "" {
		cfg.Darknet = true
		cfg.Kill = nil
	}
}

type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
