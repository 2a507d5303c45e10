package fetch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lethe/crypto"
	"lethe/metadata"
)

// getter answers every request with block, or ErrBlockNotFound, and records the attempts.
type getter struct {
	block    []byte
	attempts []int
}

func (g *getter) GetBlock(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey, attempt int) ([]byte, error) {
	g.attempts = append(g.attempts, attempt)
	if g.block == nil {
		return nil, ErrBlockNotFound
	}
	return g.block, nil
}

func chkURI(tb testing.TB, payload []byte) (crypto.RequestURI, []byte) {
	tb.Helper()
	block, key, err := crypto.EncodeCHKWithKey(payload, [32]byte{7})
	if err != nil {
		tb.Fatal(err)
	}
	return crypto.RequestURI{Type: crypto.CHK, Key: key.Routing, Crypto: key.Crypto}, block
}

func TestTopBlockRetriesOnFreshRoutes(t *testing.T) {
	uri, _ := chkURI(t, []byte("x"))
	g := &getter{}
	_, err := New(g, Config{}).Open(context.Background(), uri)
	if !errors.Is(err, ErrBlockNotFound) {
		t.Fatalf("missing top block: %v, want ErrBlockNotFound", err)
	}
	if len(g.attempts) != 3 || g.attempts[0] != 0 || g.attempts[2] != 2 {
		t.Errorf("attempts %v, want [0 1 2]", g.attempts)
	}
}

func TestGarbageTopBlock(t *testing.T) {
	uri, block := chkURI(t, []byte("not a metadata document"))
	_, err := New(&getter{block: block}, Config{}).Open(context.Background(), uri)
	if !errors.Is(err, ErrCorrupt) || !errors.Is(err, metadata.ErrMalformed) {
		t.Errorf("garbage top block: %v, want ErrCorrupt wrapping ErrMalformed", err)
	}
	// A block from another key fails verification on every route.
	other, _ := chkURI(t, []byte("other"))
	g := &getter{block: block}
	if _, err := New(g, Config{}).Open(context.Background(), other); !errors.Is(err, crypto.ErrVerify) || len(g.attempts) != 3 {
		t.Errorf("wrong block: %v after %d attempts", err, len(g.attempts))
	}
}

func TestInlineAndLimits(t *testing.T) {
	doc := &metadata.Document{Kind: metadata.KindInline, MIMEType: "text/plain", Size: 5, Data: []byte("hello")}
	b, _ := doc.Encode()
	uri, block := chkURI(t, b)
	var out strings.Builder
	res, err := New(&getter{block: block}, Config{}).Fetch(context.Background(), uri, &out)
	if err != nil || out.String() != "hello" || res.ContentType != "text/plain" {
		t.Errorf("inline fetch: %q %+v %v", out.String(), res, err)
	}
	if _, err := New(&getter{block: block}, Config{MaxSize: 4}).Open(context.Background(), uri); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
	if _, err := New(&getter{block: block}, Config{}).Open(context.Background(), uri.WithPath("/name.txt")); err != nil {
		t.Errorf("a single file by its name: %v", err)
	}
	if _, err := New(&getter{block: block}, Config{}).Open(context.Background(), uri.WithPath("/a/b")); !errors.Is(err, ErrNotFound) {
		t.Errorf("path into a file: %v", err)
	}
}

func TestSegmentErrorMessage(t *testing.T) {
	err := error(&SegmentError{Segment: 2, Segments: 8, Have: 100, Need: 128, Blocks: 256})
	want := "segment 3 of 8: found 100 of the 128 blocks needed (28 missing; 256 blocks exist)"
	if err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	if !errors.Is(err, ErrBlockNotFound) {
		t.Error("SegmentError does not wrap ErrBlockNotFound")
	}
}

func TestDirCache(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	c, err := NewDirCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	rk := crypto.RoutingKey{1}
	if _, ok := c.Load(rk); ok {
		t.Fatal("empty cache loaded a block")
	}
	if err := c.Store(rk, []byte("block")); err != nil {
		t.Fatal(err)
	}
	if b, ok := c.Load(rk); !ok || string(b) != "block" {
		t.Errorf("Load = %q, %v", b, ok)
	}
	os.WriteFile(c.path(crypto.RoutingKey{2}), make([]byte, maxBlockSize+1), 0o600)
	if _, ok := c.Load(crypto.RoutingKey{2}); ok {
		t.Error("an oversized file loaded as a block")
	}
	if err := c.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Error("Remove left the directory")
	}
}

func TestEditionsRemember(t *testing.T) {
	var e Editions
	u := crypto.RequestURI{Type: crypto.USK, Site: "blog", Edition: 3, Key: [32]byte{1}, Crypto: [32]byte{2}}
	if _, ok := e.Latest(u); ok {
		t.Fatal("empty memory knows an edition")
	}
	e.Record(u, 5)
	e.Record(u.WithEdition(9).WithPath("/x"), 4)
	if n, ok := e.Latest(u.WithEdition(0)); !ok || n != 5 {
		t.Errorf("Latest = %d, %v; want 5 (an older find does not go back)", n, ok)
	}
	other := u
	other.Site = "other"
	if _, ok := e.Latest(other); ok {
		t.Error("another site shares the memory")
	}
}
