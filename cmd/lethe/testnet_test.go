package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func TestTestnetCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	e := &env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	start := time.Now()
	go func() {
		done <- runEnv(ctx, []string{"testnet", "-n", "5", "--fcp", "127.0.0.1:0", "--proxy", "127.0.0.1:0"}, e)
	}()
	for !strings.Contains(stdout.String(), "Press Ctrl-C") {
		select {
		case code := <-done:
			cancel()
			t.Fatalf("testnet exited with %d:\n%s", code, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Since(start) > 30*time.Second {
			cancel()
			t.Fatal("testnet not ready in 30 s")
		}
	}
	out := stdout.String()
	for _, want := range []string{"5 nodes on 127.0.0.1", "client protocol (FCP)  127.0.0.1:", "lethe insert --fcp", "lethe fetch"} {
		if !strings.Contains(out, want) {
			t.Errorf("testnet output lacks %q:\n%s", want, out)
		}
	}
	addr := between(out, "client protocol (FCP)  ", "\n")
	dir := between(out, "data                   ", "\n")
	src := writeFile(t, t.TempDir(), "hello.txt", []byte("Hello, Lethe"))
	r := lethe(t, context.Background(), []string{"LETHE_FCP=" + addr}, nil, "insert", src)
	r.wantCode(t, exitOK)

	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("testnet exit code %d after Ctrl-C:\n%s", code, stderr.String())
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("the temporary directory %s is still there", dir)
	}
	if !strings.Contains(stderr.String(), "stopped") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i+len(from):]
	if j := strings.Index(s, to); j >= 0 {
		s = s[:j]
	}
	return strings.TrimSpace(s)
}
