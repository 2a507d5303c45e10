package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// startNodeCmd runs `lethe node` with args until the returned stop is called, and returns
// its output so far once it is serving.
func startNodeCmd(t *testing.T, dir string, args ...string) (out *syncBuffer, stop func() result) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	e := &env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	full := append([]string{"node", "--dir", dir, "--listen", "127.0.0.1:0", "--fcp", "127.0.0.1:0", "--proxy", "off"}, args...)
	go func() { done <- runEnv(ctx, full, e) }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stdout.String(), "Press Ctrl-C") {
		select {
		case code := <-done:
			cancel()
			t.Fatalf("lethe node exited with %d:\n%s\n%s", code, stdout.String(), stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("lethe node did not start:\n%s\n%s", stdout.String(), stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return &stdout, func() result {
		cancel()
		code := <-done
		return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	}
}

func TestNodeFirstRunAndStop(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	out, stop := startNodeCmd(t, dir)
	for _, want := range []string{"Created a new Lethe node in " + dir, "lethe-noderef v1", "What next:", "lethe peers add"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("first run does not print %q:\n%s", want, out.String())
		}
	}
	st := lethe(t, context.Background(), nil, nil, "status", "--dir", dir)
	st.wantCode(t, exitOK)
	if !strings.Contains(st.stdout, "darknet") || !strings.Contains(st.stdout, "peers: 0 connected") {
		t.Errorf("status:\n%s", st.stdout)
	}
	r := stop()
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stderr, "node stopped") {
		t.Errorf("stderr on stop:\n%s", r.stderr)
	}
	lethe(t, context.Background(), nil, nil, "status", "--dir", dir).wantCode(t, exitNoNode)

	// The second run finds its identity: same node, no first-run text.
	out2, stop2 := startNodeCmd(t, dir)
	if strings.Contains(out2.String(), "Created a new") {
		t.Error("second run says it created a node")
	}
	id := func(s string) string {
		m := regexp.MustCompile(`(?m)^Lethe node (\S+),`).FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("no node ID in:\n%s", s)
		}
		return m[1]
	}
	if id(out.String()) != id(out2.String()) {
		t.Errorf("identity changed between runs: %q, %q", id(out.String()), id(out2.String()))
	}
	stop2().wantCode(t, exitOK)
}

func TestNodeConfigFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "lethe.conf", []byte("# a node with a small store\nstore-size = 64MiB\ncache-size = 16 MiB\nmax-peers = 8\n"))
	_, stop := startNodeCmd(t, dir)
	st := lethe(t, context.Background(), nil, nil, "status", "--dir", dir)
	st.wantCode(t, exitOK)
	if !strings.Contains(st.stdout, "of 64MiB") || !strings.Contains(st.stdout, "of 16MiB") {
		t.Errorf("the config file's sizes are not in force:\n%s", st.stdout)
	}
	stop().wantCode(t, exitOK)

	writeFile(t, dir, "lethe.conf", []byte("store-sise = 64MiB\n"))
	r := lethe(t, context.Background(), nil, nil, "node", "--dir", dir, "--listen", "127.0.0.1:0", "--fcp", "off", "--proxy", "off")
	r.wantCode(t, exitUsage)
	if !strings.Contains(r.stderr, `"store-sise" is not a setting`) {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

func TestNodeTwiceOnOneDirectory(t *testing.T) {
	dir := t.TempDir()
	_, stop := startNodeCmd(t, dir)
	defer stop()
	r := lethe(t, context.Background(), nil, nil, "node", "--dir", dir, "--listen", "127.0.0.1:0", "--fcp", "off", "--proxy", "off")
	r.wantCode(t, exitFailed)
	if !strings.Contains(r.stderr, "another") {
		t.Errorf("stderr does not say another node holds the directory:\n%s", r.stderr)
	}
}
