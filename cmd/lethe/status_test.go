package main

import (
	"context"
	"strings"
	"testing"
)

func TestStatusOfTestnetNode(t *testing.T) {
	net := network(t)
	r := lethe(t, context.Background(), net.vars, nil, "status")
	r.wantCode(t, exitOK)
	for _, want := range []string{"test network", "store ", "cache ", "traffic ", "friend"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestStatusNoNode(t *testing.T) {
	r := lethe(t, context.Background(), nil, nil, "status", "--dir", t.TempDir())
	r.wantCode(t, exitNoNode)
	if !strings.Contains(r.stderr, "no node is running") || !strings.Contains(r.stderr, "lethe: hint: start one") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}
