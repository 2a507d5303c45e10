package main

import (
	"context"
	"strings"
	"testing"
)

func TestHelp(t *testing.T) {
	r := lethe(t, context.Background(), nil, nil, "help")
	r.wantCode(t, exitOK)
	for _, want := range []string{"insert", "fetch", "testnet", "exit codes:", "130"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	for name := range commands {
		r := lethe(t, context.Background(), nil, nil, name, "-h")
		if r.code != exitOK || !strings.Contains(r.stderr, "usage: lethe "+name) {
			t.Errorf("lethe %s -h: code %d, stderr:\n%s", name, r.code, r.stderr)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	r := lethe(t, context.Background(), nil, nil, "frobnicate")
	r.wantCode(t, exitUsage)
	if !strings.Contains(r.stderr, `lethe: error: unknown command "frobnicate"`) || !strings.Contains(r.stderr, "lethe: hint:") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	lethe(t, context.Background(), nil, nil).wantCode(t, exitUsage)
}
