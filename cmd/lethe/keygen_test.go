package main

import (
	"context"
	"strings"
	"testing"

	"lethe/crypto"
)

func TestKeygen(t *testing.T) {
	r := lethe(t, context.Background(), nil, nil, "keygen")
	r.wantCode(t, exitOK)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("keygen printed %d lines, want 2:\n%s", len(lines), r.stdout)
	}
	ins, err := crypto.ParseInsertURI(lines[0])
	if err != nil {
		t.Fatalf("line 1 %q: %v", lines[0], err)
	}
	req, err := crypto.ParseURI(lines[1])
	if err != nil {
		t.Fatalf("line 2 %q: %v", lines[1], err)
	}
	if want, _ := ins.RequestURI(); want.String() != req.String() {
		t.Errorf("line 2 %q is not the request URI of line 1 (%q)", lines[1], want)
	}
	if again := lethe(t, context.Background(), nil, nil, "keygen"); again.stdout == r.stdout {
		t.Error("two keygens gave the same key")
	}
}

func TestKeygenAge(t *testing.T) {
	for _, args := range [][]string{{"keygen", "--age"}, {"keygen", "--age", "--pq"}} {
		r := lethe(t, context.Background(), nil, nil, args...)
		r.wantCode(t, exitOK)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "# recipient: age1") || !strings.HasPrefix(lines[1], "AGE-SECRET-KEY-") {
			t.Errorf("%v printed:\n%s", args, r.stdout)
		}
		recipient := strings.TrimPrefix(lines[0], "# recipient: ")
		if err := crypto.CheckAgeRecipients([]string{recipient}); err != nil {
			t.Errorf("%v: recipient %q: %v", args, recipient, err)
		}
	}
	lethe(t, context.Background(), nil, nil, "keygen", "--pq").wantCode(t, exitUsage)
}
