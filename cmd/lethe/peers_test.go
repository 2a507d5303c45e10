package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"lethe/node"
)

func TestPeersAddListRemove(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	_, stopA := startNodeCmd(t, a)
	defer stopA()
	_, stopB := startNodeCmd(t, b)
	defer stopB()
	refA := lethe(t, context.Background(), nil, nil, "peers", "ref", "--dir", a)
	refA.wantCode(t, exitOK)
	refB := lethe(t, context.Background(), nil, nil, "peers", "ref", "--dir", b)
	refB.wantCode(t, exitOK)
	fileB := writeFile(t, t.TempDir(), "b.noderef", []byte(refB.stdout))

	// Each adds the other, one from a file and one from standard input: the running nodes
	// link up.
	lethe(t, context.Background(), nil, nil, "peers", "add", fileB, "--dir", a).wantCode(t, exitOK)
	lethe(t, context.Background(), nil, strings.NewReader(refA.stdout), "peers", "add", "-", "--dir", b).wantCode(t, exitOK)
	idB := strings.Fields(strings.SplitN(refB.stdout, "\n", 3)[1])[1]
	deadline := time.Now().Add(20 * time.Second)
	for {
		l := lethe(t, context.Background(), nil, nil, "peers", "--dir", a)
		l.wantCode(t, exitOK)
		if strings.Contains(l.stdout, idB) && strings.Contains(l.stdout, "connected, location") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the friends did not link:\n%s", l.stdout)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// An ID may start with "-"; without "--" it reads as an unknown flag, and the error says
	// what to do.
	dash := lethe(t, context.Background(), nil, nil, "peers", "remove", "-C1GjV", "--dir", a)
	dash.wantCode(t, exitUsage)
	if !strings.Contains(dash.stderr, "goes after --") {
		t.Errorf("an ID starting with - without --: the error does not say to use --:\n%s", dash.stderr)
	}
	// "--": an ID may start with "-".
	r := lethe(t, context.Background(), nil, nil, "peers", "remove", "--dir", a, "--", idB[:6])
	r.wantCode(t, exitOK)
	if refs, _ := node.ReadNodeRefs(node.FriendsFile(a)); len(refs) != 0 {
		t.Errorf("%d friends left after remove", len(refs))
	}
	for {
		st, err := node.ReadStatus(a)
		if err == nil && len(st.Peers) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the removed friend is still linked")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestPeersBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, t.TempDir(), "bad.noderef", []byte("lethe-noderef v1\nid nonsense\n"))
	lethe(t, context.Background(), nil, nil, "peers", "add", bad, "--dir", dir).wantCode(t, exitUsage)
	lethe(t, context.Background(), nil, nil, "peers", "remove", "abcd", "--dir", dir).wantCode(t, exitUsage)
	lethe(t, context.Background(), nil, nil, "peers", "frobnicate", "--dir", dir).wantCode(t, exitUsage)
	lethe(t, context.Background(), nil, nil, "peers", "ref", "--dir", dir).wantCode(t, exitNoNode)
}
