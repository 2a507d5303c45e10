package main

import (
	"context"
	"strings"
	"testing"
)

func TestSim(t *testing.T) {
	r := lethe(t, context.Background(), nil, nil, "sim", "--nodes", "30", "--degree", "4", "--requests", "60", "-q")
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stdout, "found (") {
		t.Errorf("the report does not say how many requests found their key:\n%s", r.stdout)
	}
	lethe(t, context.Background(), nil, nil, "sim", "--kill", "2").wantCode(t, exitUsage)
}
