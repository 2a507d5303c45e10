package node

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestHistoryBandwidth(t *testing.T) {
	var h history
	t0 := time.Unix(1000, 0)
	h.sample(t0, 100, 10)
	h.sample(t0.Add(2*time.Second), 355, 65)
	h.sample(t0.Add(4*time.Second), 375, 67)
	got := h.bandwidth()
	want := []BandwidthSample{{t0, 100, 10}, {t0.Add(2 * time.Second), 255, 55}, {t0.Add(4 * time.Second), 20, 2}}
	if len(got) != len(want) {
		t.Fatalf("%d samples, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("sample %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	for range 2 * maxSamples {
		h.sample(t0, 375, 67)
	}
	if len(h.bandwidth()) != maxSamples {
		t.Errorf("%d samples kept, want %d", len(h.bandwidth()), maxSamples)
	}
}

func TestErrorTap(t *testing.T) {
	var h history
	var out strings.Builder
	log := slog.New(errorTap{next: slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelError}), h: &h})
	log.Info("routine")
	log.With("peer", "secret-address").Warn("friend not reached")
	log.Error("store read failed")
	errs := h.recentErrors()
	if len(errs) != 2 || !strings.HasSuffix(errs[0], "friend not reached") || !strings.HasSuffix(errs[1], "store read failed") {
		t.Errorf("recent errors %q", errs)
	}
	if strings.Contains(strings.Join(errs, " "), "secret-address") {
		t.Error("an attribute went into the status page's errors")
	}
	if strings.Contains(out.String(), "friend not reached") || !strings.Contains(out.String(), "store read failed") {
		t.Errorf("the wrapped handler's level was not kept:\n%s", out.String())
	}
}
