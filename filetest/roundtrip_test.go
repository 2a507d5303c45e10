package filetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/fetch"
	"lethe/insert"
	"lethe/metadata"
)

const (
	bs  = metadata.BlockSize
	seg = metadata.SegmentDataBlocks * bs // one full segment of data
	// inlineMax is the most content a CHK top block holds with the default MIME type.
	inlineMax = bs - 13 - len(metadata.DefaultMIMEType)
)

func TestRoundTripSizes(t *testing.T) {
	sizes := []int{0, 1, inlineMax, inlineMax + 1, bs - 1, bs, bs + 1, seg - 1, seg, seg + 1, 3*seg + seg/3}
	for _, n := range sizes {
		t.Run(fmt.Sprintf("random-%d", n), func(t *testing.T) {
			st := NewStore()
			data := randomBytes(uint64(n), n)
			uri := insertBytes(t, st, data, insert.Config{})
			got, res, err := fetchBytes(st, uri, fetch.Config{})
			if err != nil {
				t.Fatal(err)
			}
			equalBytes(t, got, data)
			if res.Size != int64(n) {
				t.Errorf("Size = %d, want %d", res.Size, n)
			}
			if n > inlineMax {
				sf := splitfileOf(t, st, uri)
				if sf.Length != int64(n) {
					t.Errorf("incompressible content was stored as %d bytes, not %d", sf.Length, n)
				}
			}
		})
	}
	for _, n := range []int{100, bs + 1, 2*seg + 5} {
		t.Run(fmt.Sprintf("text-%d", n), func(t *testing.T) {
			st := NewStore()
			data := textBytes(uint64(n), n)
			uri := insertBytes(t, st, data, insert.Config{Name: "notes.txt"})
			got, res, err := fetchBytes(st, uri, fetch.Config{})
			if err != nil {
				t.Fatal(err)
			}
			equalBytes(t, got, data)
			if res.ContentType != "text/plain" {
				t.Errorf("ContentType = %q, want text/plain", res.ContentType)
			}
			doc, _ := fetch.New(st, fetch.Config{}).Resolve(context.Background(), uri)
			if n >= 4096 && doc.Codec != metadata.CodecZstd {
				t.Errorf("text of %d bytes stored with codec %v, want zstd", n, doc.Codec)
			}
		})
	}
}

// TestRoundTripLarge streams a large file through both pipelines without holding it: the
// content is generated, and compared by hash.
func TestRoundTripLarge(t *testing.T) {
	size := int64(16 << 20)
	if long() {
		size = 100 << 20
	}
	st := NewStore()
	src := io.LimitReader(&chachaReader{seed: 7}, size)
	h := sha256.New()
	uri, err := insert.File(context.Background(), st, chk(), io.TeeReader(src, h), insert.Config{})
	if err != nil {
		t.Fatal(err)
	}
	want := h.Sum(nil)
	h.Reset()
	res, err := fetch.New(st, fetch.Config{}).Fetch(context.Background(), uri, h)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.Sum(nil), want) || res.Size != size {
		t.Fatalf("fetched %d bytes with another hash than the %d inserted", res.Size, size)
	}
}

// chachaReader is an endless incompressible stream.
type chachaReader struct {
	seed byte
	r    io.Reader
}

func (c *chachaReader) Read(p []byte) (int, error) {
	if c.r == nil {
		c.r = newChaCha(c.seed)
	}
	return c.r.Read(p)
}

func TestWriterMatchesFile(t *testing.T) {
	st := NewStore()
	data := textBytes(3, 200000)
	w, err := insert.NewWriter(context.Background(), st, chk(), insert.Config{Convergent: true, Name: "a.txt"})
	if err != nil {
		t.Fatal(err)
	}
	for p := data; len(p) > 0; {
		n := min(len(p), 777)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	uri := insertBytes(t, st, data, insert.Config{Convergent: true, Name: "a.txt"})
	if w.URI() != uri {
		t.Errorf("Writer gave %v, File gave %v for the same content", w.URI(), uri)
	}
}

func TestConvergentAndRandomKeys(t *testing.T) {
	data := randomBytes(9, seg/2)
	a := insertBytes(t, NewStore(), data, insert.Config{Convergent: true})
	b := insertBytes(t, NewStore(), data, insert.Config{Convergent: true})
	if a != b {
		t.Error("convergent inserts of the same content gave different URIs")
	}
	// GetCHKOnly: inserting into Discard computes the same URI and stores nothing.
	c, err := insert.File(context.Background(), insert.Discard, chk(), bytes.NewReader(data), insert.Config{Convergent: true})
	if err != nil || c != a {
		t.Errorf("Discard insert gave %v (%v), want %v", c, err, a)
	}
	st1, st2 := NewStore(), NewStore()
	r1 := insertBytes(t, st1, data, insert.Config{})
	r2 := insertBytes(t, st2, data, insert.Config{})
	if r1 == r2 {
		t.Error("random-key inserts of the same content gave the same URI")
	}
	shared := 0
	for _, s := range splitfileOf(t, st1, r1).Segments {
		for _, rk := range s.Routing {
			if st2.Has(rk) {
				shared++
			}
		}
	}
	if shared != 0 {
		t.Errorf("%d blocks of two random-key inserts of one file are the same", shared)
	}
}

func TestSSKAndKSK(t *testing.T) {
	ctx := context.Background()
	base, err := crypto.GenerateSSKURI(newChaCha(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		target crypto.InsertURI
		size   int
	}{
		{"ssk-inline", withDoc(base, "small"), 1000},
		{"ssk-redirect", withDoc(base, "large"), 100000},
		{"ksk", crypto.InsertURI{Type: crypto.KSK, Keyword: "lethe test keyword"}, 5000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := NewStore()
			data := randomBytes(uint64(tc.size), tc.size)
			uri, err := insert.File(ctx, st, tc.target, bytes.NewReader(data), insert.Config{})
			if err != nil {
				t.Fatal(err)
			}
			want, _ := tc.target.RequestURI()
			if uri != want {
				t.Errorf("URI %v, want %v", uri, want)
			}
			got, _, err := fetchBytes(st, uri, fetch.Config{})
			if err != nil {
				t.Fatal(err)
			}
			equalBytes(t, got, data)
			// Inserting other content under the same name is a collision, not a replacement.
			_, err = insert.File(ctx, st, tc.target, strings.NewReader("other"), insert.Config{})
			if !errors.Is(err, crypto.ErrCollision) {
				t.Errorf("second insert under %s: %v, want ErrCollision", tc.name, err)
			}
		})
	}
}

func withDoc(u crypto.InsertURI, doc string) crypto.InsertURI { u.DocName = doc; return u }

func TestInsertRefusesBadTargets(t *testing.T) {
	ctx := context.Background()
	base, _ := crypto.GenerateSSKURI(newChaCha(2))
	for name, target := range map[string]crypto.InsertURI{
		"path":     {Type: crypto.CHK, Path: "/a.txt"},
		"bare ssk": base,
	} {
		if _, err := insert.File(ctx, NewStore(), target, strings.NewReader("x"), insert.Config{}); err == nil {
			t.Errorf("%s: insert succeeded", name)
		}
	}
	if _, err := insert.File(ctx, NewStore(), chk(), strings.NewReader("x"), insert.Config{Recipients: []string{"age1nonsense"}}); err == nil {
		t.Error("insert to a malformed age recipient succeeded")
	}
}

// TestNestedMetadata inserts a file whose splitfile document does not fit one block, so the
// top block holds nested metadata.
func TestNestedMetadata(t *testing.T) {
	st := NewStore()
	data := randomBytes(11, 20<<20) // 640 data blocks, 1280 blocks: 40 KiB of keys
	uri := insertBytes(t, st, data, insert.Config{Convergent: true})
	key, _ := uri.CHKKey()
	b, _ := st.GetBlock(context.Background(), crypto.CHK, key.Routing, 0)
	payload, err := crypto.DecodeCHK(key, b)
	if err != nil {
		t.Fatal(err)
	}
	top, err := metadata.Decode(payload)
	if err != nil {
		t.Fatal(err)
	}
	if top.Kind != metadata.KindSplitfile || !top.Metadata {
		t.Fatalf("top block holds a %v document (metadata %v), want nested metadata", top.Kind, top.Metadata)
	}
	got, _, err := fetchBytes(st, uri, fetch.Config{})
	if err != nil {
		t.Fatal(err)
	}
	equalBytes(t, got, data)
}

func TestSizeLimit(t *testing.T) {
	st := NewStore()
	data := randomBytes(5, 2*seg)
	uri := insertBytes(t, st, data, insert.Config{})
	st.ResetCounts()
	_, _, err := fetchBytes(st, uri, fetch.Config{MaxSize: int64(len(data) - 1)})
	if !errors.Is(err, fetch.ErrTooLarge) {
		t.Fatalf("fetch over the limit: %v, want ErrTooLarge", err)
	}
	if n := st.TotalGets(); n != 1 {
		t.Errorf("refusing content over the limit took %d requests, want 1 (the top block)", n)
	}
	if _, _, err := fetchBytes(st, uri, fetch.Config{MaxSize: int64(len(data))}); err != nil {
		t.Errorf("fetch at exactly the limit: %v", err)
	}
}

// TestStreaming shows that the first bytes are readable while later blocks have not been
// fetched: requests for the held blocks wait until the test has read the first bytes.
func TestStreaming(t *testing.T) {
	t.Run("later segments held", func(t *testing.T) {
		st := NewStore()
		data := randomBytes(13, 10*seg)
		uri := insertBytes(t, st, data, insert.Config{})
		held := map[crypto.RoutingKey]bool{}
		for _, s := range splitfileOf(t, st, uri).Segments[6:] {
			for _, rk := range s.Routing {
				held[rk] = true
			}
		}
		readBeforeRelease(t, st, uri, data, held, 2*seg)
	})
	// A segment's first data block is readable before the segment is whole, so that the
	// first bytes wait for one block's round trip, not a segment's.
	t.Run("last data block of the segment held", func(t *testing.T) {
		st := NewStore()
		data := randomBytes(14, metadata.SegmentDataBlocks*metadata.BlockSize)
		uri := insertBytes(t, st, data, insert.Config{})
		sf := splitfileOf(t, st, uri)
		held := map[crypto.RoutingKey]bool{sf.Key(0, sf.Segments[0].DataBlocks-1).Routing: true}
		readBeforeRelease(t, st, uri, data, held, metadata.BlockSize)
	})
}

// readBeforeRelease fetches uri from st with the requests for held blocks waiting, reads the
// first n bytes (failing if they do not come within 30 s), then lets the held requests go and
// reads the rest.
func readBeforeRelease(t *testing.T, st *Store, uri crypto.RequestURI, data []byte, held map[crypto.RoutingKey]bool, n int) {
	t.Helper()
	release := make(chan struct{})
	st.OnGet = func(ctx context.Context, rk crypto.RoutingKey, attempt int) error {
		if held[rk] {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	r, err := fetch.New(st, fetch.Config{}).Open(context.Background(), uri)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	first := make([]byte, n)
	read := make(chan error, 1)
	go func() { _, err := io.ReadFull(r, first); read <- err }()
	select {
	case err := <-read:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		close(release)
		t.Fatalf("the first %d bytes were not readable while blocks were held", n)
	}
	equalBytes(t, first, data[:n])
	close(release)
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	equalBytes(t, append(first, rest...), data)
}

// TestStuckBlockHedged: a request that never comes back (a reply lost on a broken path) does
// not hold the fetch for its timeout: once its segment has heard nothing for a while, the
// fetch asks for a check block beside it, and any k blocks rebuild the segment.
func TestStuckBlockHedged(t *testing.T) {
	st := NewStore()
	data := randomBytes(15, 40*metadata.BlockSize)
	uri := insertBytes(t, st, data, insert.Config{})
	sf := splitfileOf(t, st, uri)
	stuck := sf.Key(0, 5).Routing
	st.OnGet = func(ctx context.Context, rk crypto.RoutingKey, attempt int) error {
		if rk == stuck {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	var out bytes.Buffer
	if _, err := fetch.New(st, fetch.Config{}).Fetch(ctx, uri, &out); err != nil {
		t.Fatalf("fetch with one request that never ends: %v", err)
	}
	equalBytes(t, out.Bytes(), data)
	if took := time.Since(start); took > time.Minute {
		t.Errorf("fetch took %v with one request stuck", took)
	}
}

// TestCloseStopsFetch: closing a Reader part-way stops the fetch and its goroutines
// (TestMain checks none are left).
func TestCloseStopsFetch(t *testing.T) {
	st := NewStore()
	uri := insertBytes(t, st, randomBytes(17, 8*seg), insert.Config{})
	r, err := fetch.New(st, fetch.Config{}).Open(context.Background(), uri)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(r, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	r.Close()
	r.Close()
	if n := st.TotalGets(); n > 4+7*metadata.SegmentDataBlocks {
		t.Errorf("closing after 1000 bytes still requested %d blocks", n)
	}
}

func TestProgress(t *testing.T) {
	st := NewStore()
	data := randomBytes(19, 2*seg+1)
	var ins []insert.Progress
	uri := insertBytes(t, st, data, insert.Config{Progress: func(p insert.Progress) { ins = append(ins, p) }})
	last := ins[len(ins)-1]
	if !last.Done || last.Bytes != int64(len(data)) || last.BlocksInserted != last.BlocksTotal || last.BlocksInserted != st.Len() {
		t.Errorf("last insert progress %+v; the store holds %d blocks", last, st.Len())
	}
	for i := 1; i < len(ins); i++ {
		if ins[i].BlocksInserted < ins[i-1].BlocksInserted || ins[i].Bytes < ins[i-1].Bytes {
			t.Fatalf("insert progress went backwards: %+v after %+v", ins[i], ins[i-1])
		}
	}
	var fe []fetch.Progress
	_, _, err := fetchBytes(st, uri, fetch.Config{Progress: func(p fetch.Progress) { fe = append(fe, p) }})
	if err != nil {
		t.Fatal(err)
	}
	f := fe[len(fe)-1]
	sf := splitfileOf(t, st, uri)
	data0, total := sf.BlockCounts()
	if f.Bytes != int64(len(data)) || f.BlocksRequired != data0+1 || f.BlocksTotal != total+1 || f.BlocksDone != data0+1 || f.BlocksFailed != 0 {
		t.Errorf("last fetch progress %+v; splitfile has %d data blocks of %d", f, data0, total)
	}
}
