package tests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/fcp"
	"lethe/node"
)

// long reports whether the long variants were asked for (LETHE_LONG=1).
func long() bool { return os.Getenv("LETHE_LONG") != "" }

// startTestnet starts a test network on free ports and stops it when the test ends,
// checking that its goroutines are gone.
func startTestnet(tb testing.TB, nodes int, edit func(i int, c *node.Config)) (*node.Testnet, time.Duration) {
	tb.Helper()
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	tn, err := node.StartTestnet(ctx, node.TestnetConfig{Nodes: nodes, Dir: tb.TempDir(), FCPAddr: "127.0.0.1:0", ProxyAddr: "127.0.0.1:0", Edit: edit})
	if err != nil {
		tb.Fatal(err)
	}
	ready := time.Since(start)
	tb.Cleanup(func() {
		if err := tn.Close(); err != nil {
			tb.Errorf("stop the test network: %v", err)
		}
		noGoroutinesLeft(tb, before, 5*time.Second)
	})
	return tn, ready
}

// noGoroutinesLeft waits up to within for the goroutines to fall back to before, the count
// taken before a test started its nodes, and fails the test with their stacks if they do not.
func noGoroutinesLeft(tb testing.TB, before int, within time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			tb.Errorf("%d goroutines left running (%d before):\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// client connects to a node's client protocol.
func client(tb testing.TB, n *node.Node) *fcp.Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := fcp.Dial(ctx, n.FCPAddr())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	if _, err := c.Hello(ctx, fmt.Sprintf("tests-%d", rand.Uint64())); err != nil {
		tb.Fatal(err)
	}
	return c
}

// randomBytes returns n incompressible bytes.
func randomBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

func putFile(tb testing.TB, c *fcp.Client, data []byte, name string) crypto.RequestURI {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	uri, err := c.Put(ctx, fcp.PutRequest{URI: crypto.InsertURI{Type: crypto.CHK}, TargetFilename: name, Data: bytes.NewReader(data), DataLength: int64(len(data))}, nil)
	if err != nil {
		tb.Fatalf("insert %d bytes: %v", len(data), err)
	}
	return uri
}

func getFile(tb testing.TB, c *fcp.Client, uri crypto.RequestURI, w io.Writer) fcp.Found {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	found, err := c.Get(ctx, fcp.GetRequest{URI: uri, MaxSize: 1 << 30}, w, nil)
	if err != nil {
		tb.Fatalf("fetch %v: %v", uri, err)
	}
	return found
}
