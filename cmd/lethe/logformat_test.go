package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestLogFormats(t *testing.T) {
	for _, tc := range []struct {
		format string
		want   []string // lines, in order
	}{
		{logText, []string{"level=WARN msg=\"link lost\" part=transport peer=ab12", "level=ERROR msg=\"store closed\" part=transport err=boom"}},
		{logJournal, []string{"<4>link lost part=transport peer=ab12", "<3>store closed part=transport err=boom"}},
	} {
		t.Run(tc.format, func(t *testing.T) {
			var b bytes.Buffer
			l, err := newLogger(&b, false, tc.format, os.Getenv)
			if err != nil {
				t.Fatal(err)
			}
			l = l.With("part", "transport")
			l.Info("not shown without -v")
			l.Warn("link lost", "peer", "ab12")
			l.Error("store closed", "err", "boom")
			lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), len(tc.want), b.String())
			}
			for i, w := range tc.want {
				if !strings.HasSuffix(lines[i], w) {
					t.Errorf("line %d %q, want it to end %q", i, lines[i], w)
				}
			}
			if tc.format == logJournal && strings.Contains(b.String(), "time=") {
				t.Errorf("the journal form carries a time:\n%s", b.String())
			}
		})
	}
	var b bytes.Buffer
	l, _ := newLogger(&b, true, logJSON, os.Getenv)
	l.Info("hello", "n", 1)
	var rec map[string]any
	if err := json.Unmarshal(b.Bytes(), &rec); err != nil || rec["msg"] != "hello" || rec["level"] != "INFO" {
		t.Errorf("json form %q: %v", b.String(), err)
	}
	if _, err := newLogger(&b, false, "xml", os.Getenv); err == nil {
		t.Error("an unknown format was accepted")
	}
}
