//go:build linux

package lab_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/fcp"
	"lethe/tests/lab"
)

// randomFile is n bytes that do not compress, drawn from seed.
func randomFile(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// insert inserts data at the node and returns its key once the network holds it.
func insert(t testing.TB, n *lab.Node, data []byte, name string, within time.Duration) crypto.RequestURI {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	uri, err := n.Client(t).Put(ctx, fcp.PutRequest{URI: crypto.InsertURI{Type: crypto.CHK}, TargetFilename: name,
		Data: bytes.NewReader(data), DataLength: int64(len(data))}, nil)
	if err != nil {
		t.Fatalf("insert %s at %s: %v", name, n.Host.Name, err)
	}
	return uri
}

// fetch fetches uri at the node and reports whether it came back as want, and how long the
// fetch took.
func fetch(t testing.TB, n *lab.Node, uri crypto.RequestURI, want []byte, within time.Duration) (time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	h := sha256.New()
	var got countWriter
	start := time.Now()
	if _, err := n.Client(t).Get(ctx, fcp.GetRequest{URI: uri, MaxSize: 1 << 30}, io.MultiWriter(h, &got), nil); err != nil {
		return time.Since(start), err
	}
	d := time.Since(start)
	if sum := sha256.Sum256(want); !bytes.Equal(h.Sum(nil), sum[:]) || int(got) != len(want) {
		t.Errorf("%s: %v came back as %d bytes that differ from the %d inserted", n.Host.Name, uri, got, len(want))
	}
	return d, nil
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

// waitFor polls cond until it holds or within passes, and reports how long it took.
func waitFor(within time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > within {
			return time.Since(start), false
		}
		time.Sleep(100 * time.Millisecond)
	}
}
