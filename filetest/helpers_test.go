package filetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/fetch"
	"lethe/insert"
	"lethe/metadata"
)

// TestMain fails the run if goroutines started by inserts and fetches outlive them.
func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			fmt.Fprintf(os.Stderr, "leaked goroutines: %d before, %d after\n%s", before, n, buf[:runtime.Stack(buf, true)])
			code = 1
		}
	}
	os.Exit(code)
}

func long() bool { return os.Getenv("LETHE_LONG") != "" }

// randomBytes is incompressible content, the same for the same seed.
func randomBytes(seed uint64, n int) []byte {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	b := make([]byte, n)
	rand.NewChaCha8(s).Read(b)
	return b
}

// textBytes is compressible content: words drawn at random.
func textBytes(seed uint64, n int) []byte {
	words := strings.Fields("lethe stores encrypted blocks that nodes route by key closeness " +
		"with hops to live and cache on the way back so popular data moves towards readers")
	rng := rand.New(rand.NewPCG(seed, 1))
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[rng.IntN(len(words))])
		b.WriteByte(" \n"[rng.IntN(2)])
	}
	return b.Bytes()[:n]
}

func chk() crypto.InsertURI { return crypto.InsertURI{Type: crypto.CHK} }

func insertBytes(tb testing.TB, st *Store, data []byte, cfg insert.Config) crypto.RequestURI {
	tb.Helper()
	uri, err := insert.File(context.Background(), st, chk(), bytes.NewReader(data), cfg)
	if err != nil {
		tb.Fatalf("insert %d bytes: %v", len(data), err)
	}
	return uri
}

func fetchBytes(st fetch.BlockGetter, uri crypto.RequestURI, cfg fetch.Config) ([]byte, fetch.Result, error) {
	var out bytes.Buffer
	res, err := fetch.New(st, cfg).Fetch(context.Background(), uri, &out)
	return out.Bytes(), res, err
}

// splitfileOf returns the splitfile a URI's content is stored in.
func splitfileOf(tb testing.TB, st *Store, uri crypto.RequestURI) *metadata.Splitfile {
	tb.Helper()
	doc, err := fetch.New(st, fetch.Config{}).Resolve(context.Background(), uri)
	if err != nil {
		tb.Fatal(err)
	}
	if doc.Kind != metadata.KindSplitfile {
		tb.Fatalf("content is %v, not a splitfile", doc.Kind)
	}
	return doc.Split
}

// equalBytes reports the first difference, without printing megabytes.
func equalBytes(tb testing.TB, got, want []byte) {
	tb.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	tb.Fatalf("content differs: got %d bytes, want %d; first difference at byte %d", len(got), len(want), i)
}

// newChaCha is a deterministic stream of random bytes.
func newChaCha(seed byte) io.Reader {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}
