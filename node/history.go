package node

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Bounds of what the node remembers for its status (not part of any format).
const (
	maxSamples = 150 // bandwidth samples: five minutes at one per status round
	maxErrors  = 20  // recent warnings and errors
)

// BandwidthSample is the traffic of one status round: Time is when it ended; it began at the
// previous sample's Time.
type BandwidthSample struct {
	Time     time.Time `json:"time"`
	BytesIn  int64     `json:"bytesIn"`
	BytesOut int64     `json:"bytesOut"`
}

// history keeps the node's recent traffic and the warnings it logged, for the status page.
type history struct {
	mu      sync.Mutex
	samples []BandwidthSample // oldest first; guarded by mu
	in, out int64             // the links' bytes received and sent at the last sample; guarded by mu
	errors  []string          // oldest first; guarded by mu
}

// sample records the traffic since the last call from the links' totals of bytes received
// and sent since the node started: the bytes the bandwidth limits count (spec §11.6), so that
// the status page draws traffic and limits in the same measure.
func (h *history) sample(now time.Time, in, out int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.samples = append(h.samples, BandwidthSample{Time: now, BytesIn: max(in-h.in, 0), BytesOut: max(out-h.out, 0)})
	h.in, h.out = in, out
	if len(h.samples) > maxSamples {
		h.samples = h.samples[len(h.samples)-maxSamples:]
	}
}

func (h *history) bandwidth() []BandwidthSample {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]BandwidthSample(nil), h.samples...)
}

func (h *history) addError(s string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.errors = append(h.errors, s)
	if len(h.errors) > maxErrors {
		h.errors = h.errors[len(h.errors)-maxErrors:]
	}
}

func (h *history) recentErrors() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.errors...)
}

// errorTap is a slog.Handler that passes every record on and keeps the message of warnings
// and errors (without their attributes, which may name peers or addresses) in the history.
type errorTap struct {
	next slog.Handler
	h    *history
}

func (t errorTap) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || t.next.Enabled(ctx, l)
}

func (t errorTap) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		t.h.addError(r.Time.Format(time.DateTime) + " " + r.Message)
	}
	if t.next.Enabled(ctx, r.Level) {
		return t.next.Handle(ctx, r)
	}
	return nil
}

func (t errorTap) WithAttrs(as []slog.Attr) slog.Handler {
	return errorTap{next: t.next.WithAttrs(as), h: t.h}
}

func (t errorTap) WithGroup(name string) slog.Handler {
	return errorTap{next: t.next.WithGroup(name), h: t.h}
}
