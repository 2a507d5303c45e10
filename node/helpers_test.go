package node

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/fcp"
)

// startTestnet starts a test network on free ports for a test and stops it at the end,
// checking that no goroutine is left behind.
func startTestnet(tb testing.TB, nodes int, edit func(i int, c *Config)) *Testnet {
	tb.Helper()
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	tn, err := StartTestnet(ctx, TestnetConfig{
		Nodes:     nodes,
		Dir:       tb.TempDir(),
		FCPAddr:   "127.0.0.1:0",
		ProxyAddr: "127.0.0.1:0",
		Logger:    testLogger(tb),
		Edit:      edit,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Logf("testnet of %d nodes ready in %v; links %v", nodes, time.Since(start).Round(time.Millisecond), tn.Links)
	tb.Cleanup(func() {
		if err := tn.Close(); err != nil {
			tb.Errorf("close testnet: %v", err)
		}
		checkGoroutines(tb, before)
	})
	return tn
}

// checkGoroutines fails the test if more goroutines run than before it started, once the
// stragglers have had a moment to exit.
func checkGoroutines(tb testing.TB, before int) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			tb.Errorf("%d goroutines left running (%d before):\n%s", runtime.NumGoroutine(), before, buf)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testLogger logs warnings and errors into the test's output, and everything with
// LETHE_DEBUG=1.
func testLogger(tb testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("LETHE_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: level}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// dialFCP connects a client to a node's client protocol.
func dialFCP(tb testing.TB, n *Node) *fcp.Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := fcp.Dial(ctx, n.FCPAddr())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	if _, err := c.Hello(ctx, fmt.Sprintf("test-%d", rand.Uint64())); err != nil {
		tb.Fatal(err)
	}
	return c
}

// randomBytes returns n pseudo-random bytes (incompressible, so every block is real work).
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 1})
	r.Read(b)
	return b
}

// put inserts data as a CHK through c and returns its URI.
func put(tb testing.TB, c *fcp.Client, data []byte, name string) crypto.RequestURI {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	uri, err := c.Put(ctx, fcp.PutRequest{
		URI:            crypto.InsertURI{Type: crypto.CHK},
		Data:           bytes.NewReader(data),
		DataLength:     int64(len(data)),
		TargetFilename: name,
	}, nil)
	if err != nil {
		tb.Fatalf("put %d bytes: %v", len(data), err)
	}
	return uri
}

// get fetches uri through c.
func get(tb testing.TB, c *fcp.Client, uri crypto.RequestURI) ([]byte, fcp.Found) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var buf bytes.Buffer
	found, err := c.Get(ctx, fcp.GetRequest{URI: uri, MaxSize: 1 << 30}, &buf, nil)
	if err != nil {
		tb.Fatalf("get %v: %v", uri, err)
	}
	return buf.Bytes(), found
}

var _ = io.EOF
