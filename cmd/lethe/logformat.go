package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Log formats of `lethe node --log-format` (spec §19.9).
const (
	logAuto    = "auto"    // journal when standard error is the systemd journal, else text
	logText    = "text"    // slog's text: time=… level=… msg=… key=value…
	logJournal = "journal" // <N>msg key=value…: a syslog priority prefix, no time
	logJSON    = "json"    // one JSON object a line
)

// newLogger makes the node's logger writing to w in format; verbose logs Info and above,
// otherwise Warn and above. stderr, if it is the process's standard error, tells auto
// whether the journal reads it.
func newLogger(w io.Writer, verbose bool, format string, getenv func(string) string) (*slog.Logger, error) {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if format == logAuto {
		format = logText
		if f, ok := w.(*os.File); ok && isJournal(f, getenv("JOURNAL_STREAM")) {
			format = logJournal
		}
	}
	switch format {
	case logText:
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case logJSON:
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case logJournal:
		return slog.New(&journalHandler{w: w, mu: new(sync.Mutex), level: level}), nil
	}
	return nil, fmt.Errorf("unknown log format %q: auto, text, journal or json", format)
}

// textLogger is newLogger's text form, for the test network and the benchmark.
func textLogger(w io.Writer, verbose bool) *slog.Logger {
	l, _ := newLogger(w, verbose, logText, nil)
	return l
}

// journalMatches reports whether JOURNAL_STREAM, "device:inode" as systemd sets it for a
// service whose output goes to the journal, names the file whose device and inode are dev
// and ino: then the journal reads standard error, stamps each line with its own time, and
// takes a "<N>" prefix as the line's syslog priority (sd-daemon(3)).
func journalMatches(stream string, dev, ino uint64) bool {
	d, i, ok := strings.Cut(stream, ":")
	if !ok {
		return false
	}
	sd, err1 := strconv.ParseUint(d, 10, 64)
	si, err2 := strconv.ParseUint(i, 10, 64)
	return err1 == nil && err2 == nil && sd == dev && si == ino
}

// journalHandler writes each record as one line, "<N>message key=value…", where N is the
// syslog priority of the level (3 error, 4 warning, 6 info, 7 debug): no time, which the
// journal (or syslog) adds, and no level word, which the priority replaces. Attributes are
// written as slog's text handler writes them.
type journalHandler struct {
	w     io.Writer
	mu    *sync.Mutex // guards writes to w, shared by the handlers derived from one
	level slog.Level
	with  []func(slog.Handler) slog.Handler // WithAttrs and WithGroup, in order
}

func (h *journalHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *journalHandler) Handle(ctx context.Context, r slog.Record) error {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "<%d>", syslogPriority(r.Level))
	buf.WriteString(r.Message)
	var attrs bytes.Buffer
	var th slog.Handler = slog.NewTextHandler(&attrs, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
				return slog.Attr{}
			}
			return a
		},
	})
	for _, w := range h.with {
		th = w(th)
	}
	if err := th.Handle(ctx, r); err != nil {
		return err
	}
	if a := bytes.TrimSpace(attrs.Bytes()); len(a) > 0 {
		buf.WriteByte(' ')
		buf.Write(a)
	}
	buf.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(buf.Bytes())
	return err
}

func (h *journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return h.derive(func(th slog.Handler) slog.Handler { return th.WithAttrs(as) })
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	return h.derive(func(th slog.Handler) slog.Handler { return th.WithGroup(name) })
}

func (h *journalHandler) derive(w func(slog.Handler) slog.Handler) *journalHandler {
	d := *h
	d.with = append(append([]func(slog.Handler) slog.Handler{}, h.with...), w)
	return &d
}

// syslogPriority is the syslog severity of a level.
func syslogPriority(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return 3
	case l >= slog.LevelWarn:
		return 4
	case l >= slog.LevelInfo:
		return 6
	}
	return 7
}
