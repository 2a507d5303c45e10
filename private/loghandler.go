package private

import (
	"context"
	"log/slog"
)

// Handler passes log records on to another handler with every error among their
// attributes in its log form (Error), so that no error's text reaches the log, whichever
// package logged it (docs/spec.md §19.10): a fetch's "CHK block <routing key>: …", an
// insert's file name, a client's words. Known are sentinel errors whose texts name nothing;
// the log form of an error that wraps one of them says so ("data not found (…)"), so that the
// log still says what failed. Values that redact themselves (slog.LogValuer: URIs, routing
// keys, node IDs) are resolved first.
type Handler struct {
	next  slog.Handler
	known []error
}

// NewHandler wraps next.
func NewHandler(next slog.Handler, known ...error) *Handler {
	return &Handler{next: next, known: known}
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.redact(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = h.redact(a)
	}
	return &Handler{next: h.next.WithAttrs(red), known: h.known}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), known: h.known}
}

func (h *Handler) redact(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, logForm(err, h.known))
		}
	case slog.KindGroup:
		group := v.Group()
		red := make([]any, len(group))
		for i, g := range group {
			red[i] = h.redact(g)
		}
		return slog.Group(a.Key, red...)
	}
	return slog.Attr{Key: a.Key, Value: v}
}
