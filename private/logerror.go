package private

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
)

// Error is the form in which an error reaches a log (docs/spec.md §19.10): log
// private.Error{err}, never err. An error's text may name what it failed on — a URI with
// the key that decrypts it, a site's or a file's name, a routing key — and a log must say
// what kind of thing failed, never which. So the log form is the types of the errors in the
// chain ("*fmt.wrapError > fetch.SegmentError"), after the text of the one condition it
// meets, if any, from a fixed list whose texts name nothing (a timeout, a cancellation, a
// closed connection, a system error number).
type Error struct{ Err error }

// LogValue implements slog.LogValuer.
func (e Error) LogValue() slog.Value { return slog.StringValue(logForm(e.Err, nil)) }

// logForm is the log form of err: the types of its chain, after the text of the first
// condition it meets, from the fixed list or from known (sentinels whose texts name nothing).
func logForm(err error, known []error) string {
	if err == nil {
		return "<nil>"
	}
	var types []string
	for e := err; e != nil && len(types) < 8; e = unwrapFirst(e) {
		types = append(types, fmt.Sprintf("%T", e))
	}
	chain := strings.Join(types, " > ")
	if c := condition(err, known); c != "" {
		return c + " (" + chain + ")"
	}
	return chain
}

// Error is the same as the log form, so that a caller that formats it does no harm either.
func (e Error) Error() string { return e.LogValue().String() }

// Unwrap gives the error itself, for errors.Is and errors.As.
func (e Error) Unwrap() error { return e.Err }

func unwrapFirst(err error) error {
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return u.Unwrap()
	case interface{ Unwrap() []error }:
		if errs := u.Unwrap(); len(errs) > 0 {
			return errs[0]
		}
	}
	return nil
}

// conditions are errors whose text is fixed and names nothing.
var conditions = []error{
	context.Canceled, context.DeadlineExceeded, os.ErrDeadlineExceeded, io.EOF,
	io.ErrUnexpectedEOF, io.ErrShortWrite, net.ErrClosed, fs.ErrNotExist, fs.ErrExist,
	fs.ErrPermission,
}

func condition(err error, known []error) string {
	for _, c := range known {
		if errors.Is(err, c) {
			return c.Error()
		}
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	for _, c := range conditions {
		if errors.Is(err, c) {
			return c.Error()
		}
	}
	return ""
}
