package sim

import (
	"os"
	"strconv"
	"testing"
)

// TestTunnelModel runs the path-selection model (tunnelmodel.go) on a small opennet and checks
// that it tells the adversaries apart: passive colluders must need both a colluding guard and
// a colluding end (about k·f² of downloads), while colluders who make up their peer lists own
// every tunnel whose guard they hold (about k·f). A model blind to the attack would pass
// neither check.
//
// LETHE_SIM=1000 go test ./routing/sim -run TestTunnelModel -v prints the full table at that
// size (LETHE_SIM_DARKNET and LETHE_SIM_FORMATION as for TestScale).
func TestTunnelModel(t *testing.T) {
	cfg := Config{Nodes: 300, Degree: 12, Seed: 2, FormationRequests: 3, Log: testLog{t}}
	if raceEnabled {
		cfg.Nodes = 120
	}
	mc := ModelConfig{Downloads: 300, Draws: 20, Seed: 1}
	policies := []PathPolicy{{Links: 3, Tunnels: 1, MinList: 6, AvoidOwnPeers: true}}
	fractions := []float64{0.1}
	full := false
	if n, _ := strconv.Atoi(os.Getenv("LETHE_SIM")); n > 0 {
		full = true
		cfg = Config{Nodes: n, Degree: 20, Seed: 1, Log: testLog{t}}
		fromEnv(&cfg)
		mc = ModelConfig{Downloads: 2000, Draws: 20, Seed: 1, SearchHops: true}
		policies = nil
		for _, links := range []int{2, 3} {
			for _, k := range []int{1, 2, 3, 4} {
				for _, minList := range []int{0, 8} {
					policies = append(policies, PathPolicy{Links: links, Tunnels: k, MinList: minList, AvoidOwnPeers: true})
				}
			}
		}
		policies = append(policies, PathPolicy{Links: 3, Tunnels: 1, MinList: 0})
		fractions = []float64{0.01, 0.05, 0.1}
	}
	g, err := FormGraph(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rs := g.Model(mc, policies, []Adversary{Passive, ActiveReal, ActiveSybil}, fractions)
	t.Log("\n" + FormatModel(rs))
	if full {
		return
	}
	for _, r := range rs {
		f := r.Fraction
		switch r.Adversary {
		case Passive:
			// A colluding end given a colluding guard no more often than chance allows.
			if p := r.EndColludes.P(); r.EndColludes.Of < 50 || p > 3*f {
				t.Errorf("passive: P(end colludes | guard colludes) = %.3f of %.0f, want about %.2f", p, r.EndColludes.Of, f)
			}
			if p := r.Exposed.P(); p > 3*f*f {
				t.Errorf("passive: %.4f of downloads exposed, want about f² = %.4f", p, f*f)
			}
		case ActiveSybil:
			if p := r.Exposed.P(); p < f/2 {
				t.Errorf("Sybil lists: %.4f of downloads exposed, want about f = %.2f: the model misses the attack", p, f)
			}
		}
	}
}
