package private

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"testing"
)

var errNotFound = errors.New("fetch: not found")

// The log form of an error names none of what its text names, and says what it can.
func TestErrorLogForm(t *testing.T) {
	const secret = "CHK@secretkey,secretcrypto,AQABAQA/holiday-photos/me.jpg"
	_, statErr := os.Stat("/nonexistent/" + secret)
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%w: /%s", errNotFound, secret), "*fmt.wrapError > *errors.errorString"},
		{fmt.Errorf("fetch %s: %w", secret, context.DeadlineExceeded), "context deadline exceeded (*fmt.wrapError > context.deadlineExceededError)"},
		{statErr, "no such file or directory (*fs.PathError > syscall.Errno)"},
		{errors.Join(fmt.Errorf("%s: %w", secret, fs.ErrPermission), errNotFound), "permission denied (*errors.joinError > *fmt.wrapError > *errors.errorString)"},
		{errors.New(secret), "*errors.errorString"},
		{nil, "<nil>"},
	} {
		var buf bytes.Buffer
		slog.New(slog.NewTextHandler(&buf, nil)).Info("failed", "err", Error{tc.err})
		if strings.Contains(buf.String(), "secret") || strings.Contains(buf.String(), "holiday") {
			t.Errorf("the log names what the error was about: %s", buf.String())
		}
		if got := (Error{tc.err}).LogValue().String(); got != tc.want {
			t.Errorf("log form of %v: %q, want %q", tc.err, got, tc.want)
		}
	}
	e := Error{fmt.Errorf("x: %w", errNotFound)}
	if !errors.Is(e, errNotFound) || strings.Contains(e.Error(), "x:") {
		t.Errorf("Error %q: Is %v", e.Error(), errors.Is(e, errNotFound))
	}
}

// Handler redacts errors whichever package logs them, in groups and in attributes given
// beforehand too, and names the known sentinels they wrap.
func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}), errNotFound))
	secret := "USK@secretkey,secretcrypto,AQACAQA/holiday/3/beach.html"
	log.With("err", errors.New(secret)).Debug("one", "err", fmt.Errorf("%s: %w", secret, errNotFound),
		slog.Group("g", "cause", fmt.Errorf("x %s", secret)), "n", 3)
	got := buf.String()
	if strings.Contains(got, "secret") || strings.Contains(got, "holiday") {
		t.Errorf("the log names what the errors were about: %s", got)
	}
	for _, want := range []string{`err="fetch: not found (*fmt.wrapError > *errors.errorString)"`, `g.cause=*errors.errorString`, "n=3", "msg=one"} {
		if !strings.Contains(got, want) {
			t.Errorf("the log lacks %s: %s", want, got)
		}
	}
}
