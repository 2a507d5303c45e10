//go:build unix

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestLogFormatAuto: auto writes the journal form only when JOURNAL_STREAM names the very
// file logged to, as systemd sets it for a service whose output the journal reads.
func TestLogFormatAuto(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	for _, tc := range []struct {
		stream  string
		journal bool
	}{
		{fmt.Sprintf("%d:%d", st.Dev, st.Ino), true},
		{fmt.Sprintf("%d:%d", st.Dev, st.Ino+1), false}, // the journal reads another stream: a redirected stderr
		{"", false},
		{"garbage", false},
	} {
		f.Truncate(0)
		f.Seek(0, 0)
		l, err := newLogger(f, false, logAuto, func(k string) string {
			if k == "JOURNAL_STREAM" {
				return tc.stream
			}
			return ""
		})
		if err != nil {
			t.Fatal(err)
		}
		l.Warn("hello")
		got, _ := os.ReadFile(f.Name())
		if journal := strings.HasPrefix(string(got), "<4>hello"); journal != tc.journal {
			t.Errorf("JOURNAL_STREAM=%q: wrote %q, journal form %v", tc.stream, got, tc.journal)
		}
	}
}
