package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"lethe/node"
)

// result is what one run of the command printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

// lethe runs the command line args with the environment vars (NAME=value) and no other.
func lethe(tb testing.TB, ctx context.Context, vars []string, stdin io.Reader, args ...string) result {
	tb.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var stdout, stderr syncBuffer
	e := &env{stdin: stdin, stdout: &stdout, stderr: &stderr, getenv: func(k string) string {
		for _, v := range vars {
			if name, value, ok := strings.Cut(v, "="); ok && name == k {
				return value
			}
		}
		return ""
	}}
	code := runEnv(ctx, args, e)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// syncBuffer is a bytes.Buffer safe for the progress callbacks' goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	// onWrite, if set, sees each write.
	onWrite func(p []byte)
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.onWrite != nil {
		s.onWrite(p)
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (r result) wantCode(tb testing.TB, code int) {
	tb.Helper()
	if r.code != code {
		tb.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
}

// testNetwork is a small test network for the client commands, shared by the tests of this
// package that need a node, and the environment that points the commands at it.
type testNetwork struct {
	tn   *node.Testnet
	vars []string
}

var (
	netOnce   sync.Once
	sharedNet *testNetwork
	netErr    error
)

// network starts (once) an 8-node test network (in smaller ones an anonymity stem can pass every node that holds a block, and a fetch then misses it) on free ports.
func network(tb testing.TB) *testNetwork {
	tb.Helper()
	netOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lethe-cli-test-")
		if err != nil {
			netErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		tn, err := node.StartTestnet(ctx, node.TestnetConfig{Nodes: 8, Dir: dir, FCPAddr: "127.0.0.1:0", ProxyAddr: "127.0.0.1:0"})
		if err != nil {
			netErr = err
			return
		}
		sharedNet = &testNetwork{tn: tn, vars: []string{"LETHE_FCP=" + tn.Nodes[0].FCPAddr(), "LETHE_DIR=" + tn.Nodes[0].Dir()}}
	})
	if netErr != nil {
		tb.Fatal(netErr)
	}
	return sharedNet
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedNet != nil {
		dir := sharedNet.tn.Dir
		if err := sharedNet.tn.Close(); err != nil {
			println("close test network:", err.Error())
			code = 1
		}
		os.RemoveAll(dir)
	}
	if code == 0 {
		if leaked := lingering(); leaked != "" {
			println("goroutines of Lethe left running after the tests:")
			println(leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// lingering returns the stacks of goroutines running Lethe's code, other than this one,
// once the stragglers have had a few seconds to end ("" if none are left). Goroutines of the
// runtime and the test framework (the fuzzer's signal handler) do not count.
func lingering() string {
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var left []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "lethe/") && !strings.Contains(g, "lethe/cmd/lethe.TestMain") {
				left = append(left, g)
			}
		}
		if len(left) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(left, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writeFile writes a file under dir and returns its path.
func writeFile(tb testing.TB, dir, name string, data []byte) string {
	tb.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}
