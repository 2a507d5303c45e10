package tests

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/fetch"
	"lethe/filetest"
	"lethe/insert"
	"lethe/metadata"
)

// Fuzz targets for parsers of outside bytes that sit between packages, each fuzzed through
// the exported API a node uses. The parsers inside one package are fuzzed beside their code.

// hostileNet is a network that holds a fixed set of genuine blocks, inserted once, and one
// top block per fuzz input: what a fetcher meets when someone inserts metadata made to hurt
// it, pointing at real content.
type hostileNet struct {
	once       sync.Once
	store      *filetest.Store
	tops       map[string][]byte // name → the plaintext of the top block of a genuine insert
	contents   map[string][]byte // name → the content inserted
	identities []byte            // age identity file of the recipient of the encrypted insert
}

var hostile hostileNet

func (h *hostileNet) setup(tb testing.TB) {
	tb.Helper()
	h.once.Do(func() {
		h.store = filetest.NewStore()
		h.tops, h.contents = map[string][]byte{}, map[string][]byte{}
		id, recipient, err := crypto.GenerateAgeIdentity(false)
		if err != nil {
			tb.Fatal(err)
		}
		h.identities = []byte(id + "\n")
		text := []byte(strings.Repeat("Lethe keeps what it is given and forgets who gave it. ", 2000))
		noise := make([]byte, 150<<10)
		for i := range noise {
			noise[i] = byte(i*7919 + i>>8)
		}
		files := []struct {
			name    string
			content []byte
			cfg     insert.Config
		}{
			{"inline", []byte("hello"), insert.Config{Name: "a.txt"}},
			{"text", text, insert.Config{Name: "t.txt"}}, // compressed
			{"splitfile", noise, insert.Config{Compression: insert.CompressNever}},
			{"encrypted", []byte("for one reader"), insert.Config{Recipients: []string{recipient}}},
		}
		ctx := context.Background()
		for _, f := range files {
			uri, err := insert.File(ctx, h.store, chkTarget(tb), bytes.NewReader(f.content), f.cfg)
			if err != nil {
				tb.Fatal(f.name, err)
			}
			h.addTop(tb, f.name, uri)
			h.contents[f.name] = f.content
		}
		site := insert.Dir{Entries: []insert.Entry{
			{Path: "index.html", Open: insert.Bytes([]byte("<p>home</p>"))},
			{Path: "img/x.txt", Open: insert.Bytes(text[:5000])},
		}}
		uri, err := insert.Directory(ctx, h.store, chkTarget(tb), site, insert.Config{})
		if err != nil {
			tb.Fatal(err)
		}
		h.addTop(tb, "site", uri)
	})
}

func chkTarget(tb testing.TB) crypto.InsertURI {
	tb.Helper()
	u, err := crypto.ParseInsertURI("CHK@")
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

func (h *hostileNet) addTop(tb testing.TB, name string, uri crypto.RequestURI) {
	tb.Helper()
	key, err := uri.CHKKey()
	if err != nil {
		tb.Fatal(err)
	}
	block, err := h.store.GetBlock(context.Background(), crypto.CHK, key.Routing, 0)
	if err != nil {
		tb.Fatal(err)
	}
	plain, err := crypto.DecodeCHK(key, block)
	if err != nil {
		tb.Fatal(err)
	}
	h.tops[name] = plain
}

// withTop is the network plus one more block.
type withTop struct {
	*filetest.Store
	rk    crypto.RoutingKey
	block []byte
}

func (w withTop) GetBlock(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey, attempt int) ([]byte, error) {
	if rk == w.rk {
		return w.block, nil
	}
	return w.Store.GetBlock(ctx, kt, rk, attempt)
}

// limitWriter fails once more than n bytes are written.
type limitWriter struct {
	n, written int64
}

var errOverLimit = errors.New("more content than the fetch's size limit")

func (w *limitWriter) Write(p []byte) (int, error) {
	w.written += int64(len(p))
	if w.written > w.n {
		return 0, errOverLimit
	}
	return len(p), nil
}

// FuzzFetchMetadata: a top block whose metadata is any bytes at all — redirects, splitfiles,
// manifests, compression and encryption that lie, pointing at genuine blocks or none — is
// fetched without a panic, within the fetch's size limit, in bounded time; and a fetch that
// succeeds wrote exactly the size its result states. Seeded with the top blocks of genuine
// inserts (a small file, compressed text, a splitfile, age-encrypted content, a site), which
// must fetch back to their content.
func FuzzFetchMetadata(f *testing.F) {
	hostile.setup(f)
	for _, top := range hostile.tops {
		f.Add(top)
	}
	const limit = 1 << 20
	f.Fuzz(func(t *testing.T, top []byte) {
		if len(top) > crypto.CHKDataSize {
			return
		}
		block, key, err := crypto.EncodeCHKWithKey(top, [crypto.KeySize]byte{1})
		if err != nil {
			t.Fatal(err)
		}
		uri := crypto.RequestURI{Type: crypto.CHK, Key: key.Routing, Crypto: key.Crypto}
		g := withTop{Store: hostile.store, rk: key.Routing, block: block}
		fe := fetch.New(g, fetch.Config{MaxSize: limit, Attempts: 1, Identities: hostile.identities})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w := &limitWriter{n: limit}
		res, err := fe.Fetch(ctx, uri, w)
		if ctx.Err() != nil {
			t.Fatalf("fetch took over 10 s: %v", err)
		}
		if errors.Is(err, errOverLimit) {
			t.Fatalf("fetch wrote more than its %d-byte limit", limit)
		}
		if err == nil && res.Size != w.written {
			t.Fatalf("fetch wrote %d bytes, its result says %d", w.written, res.Size)
		}
		for name, genuine := range hostile.tops {
			if content, ok := hostile.contents[name]; ok && bytes.Equal(top, genuine) && (err != nil || res.Size != int64(len(content))) {
				t.Fatalf("genuine %s: %d bytes, %v; want %d bytes", name, res.Size, err, len(content))
			}
		}
	})
}

// FuzzDecompress: a compressed stream from the network never panics the decoder, which
// refuses windows above metadata.MaxZstdWindow; what it does decode compresses and decodes
// back to itself.
func FuzzDecompress(f *testing.F) {
	for _, s := range []string{"", "a", strings.Repeat("lethe ", 10000)} {
		var b bytes.Buffer
		c, err := metadata.NewCompressor(&b, metadata.CodecZstd)
		if err != nil {
			f.Fatal(err)
		}
		c.Write([]byte(s))
		c.Close()
		f.Add(b.Bytes())
	}
	// A frame header asking for a 2 GiB window.
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xf8, 0x01, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := decompress(in, 8<<20)
		if err != nil {
			return
		}
		var b bytes.Buffer
		c, err := metadata.NewCompressor(&b, metadata.CodecZstd)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(out)
		c.Close()
		again, err := decompress(b.Bytes(), 8<<20)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("decoded content does not survive its own round trip: %v", err)
		}
	})
}

func decompress(in []byte, limit int64) ([]byte, error) {
	d, err := metadata.NewDecompressor(bytes.NewReader(in), metadata.CodecZstd)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	out, err := io.ReadAll(io.LimitReader(d, limit))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ageFiles are age files for the fuzzer's seeds: to an X25519 and to a post-quantum
// recipient, with the identities that read them.
var ageFiles = sync.OnceValues(func() (map[string][]byte, []byte) {
	files := map[string][]byte{}
	var idFile bytes.Buffer
	for _, pq := range []bool{false, true} {
		id, r, err := crypto.GenerateAgeIdentity(pq)
		if err != nil {
			panic(err)
		}
		idFile.WriteString(id + "\n")
		for _, plain := range []string{"", "age content in a Lethe file", strings.Repeat("x", 70<<10)} {
			var b bytes.Buffer
			w, err := crypto.EncryptTo(&b, []string{r})
			if err != nil {
				panic(err)
			}
			w.Write([]byte(plain))
			w.Close()
			files[plain] = b.Bytes()
			if !pq {
				files[plain+" (x25519)"] = b.Bytes()
			}
		}
	}
	return files, idFile.Bytes()
})

// FuzzAgeDecrypt: content encrypted to age recipients arrives from the network; any bytes
// are refused or read without a panic, and nothing but a genuine file decrypts (age
// authenticates its header and every chunk).
func FuzzAgeDecrypt(f *testing.F) {
	files, ids := ageFiles()
	for _, b := range files {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := crypto.DecryptWith(bytes.NewReader(in), bytes.NewReader(ids))
		if err != nil {
			return
		}
		plain, err := io.ReadAll(io.LimitReader(r, 1<<20))
		if err != nil {
			return
		}
		for want, b := range files {
			if bytes.Equal(in, b) {
				if string(plain) != strings.TrimSuffix(want, " (x25519)") {
					t.Fatalf("a genuine file decrypted to %d wrong bytes", len(plain))
				}
				return
			}
		}
		t.Fatalf("an altered age file decrypted to %q", plain)
	})
}
