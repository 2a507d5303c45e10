package metadata

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"reflect"
	"strings"
	"testing"

	"lethe/crypto"
)

// key makes a distinct, fixed routing or crypto key from a name.
func key(name string) [crypto.KeySize]byte { return sha256.Sum256([]byte(name)) }

func testURI(tb testing.TB, s string) crypto.RequestURI {
	tb.Helper()
	u, err := crypto.ParseURI(s)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

func chkURI(tb testing.TB, name string) crypto.RequestURI {
	tb.Helper()
	return crypto.RequestURI{Type: crypto.CHK, Key: key(name + "/r"), Crypto: key(name + "/c")}
}

// testSplitfile builds a splitfile of length bytes laid out as an inserter would.
func testSplitfile(length int64, derived bool) *Splitfile {
	s := &Splitfile{Length: length, Code: CodeFFT, Derived: derived}
	if derived {
		s.Secret = key("secret")
	}
	for i, k := range SplitEvenly(int(DataBlockCount(length))) {
		g := Segment{DataBlocks: k, CheckBlocks: CheckBlocks(k)}
		for j := 0; j < g.Blocks(); j++ {
			g.Routing = append(g.Routing, key(string(rune('a'+i))+string(rune(j))))
			if !derived {
				g.Crypto = append(g.Crypto, key(string(rune('A'+i))+string(rune(j))))
			}
		}
		s.Segments = append(s.Segments, g)
	}
	return s
}

// sampleDocuments has one document of every kind and shape, for round trips and fuzz seeds.
func sampleDocuments(tb testing.TB) map[string]*Document {
	tb.Helper()
	site := &Document{Kind: KindManifest, Default: "index.html", Entries: []Entry{
		{Name: "img", Doc: &Document{Kind: KindManifest, Entries: []Entry{
			{Name: "cat.png", Doc: &Document{Kind: KindSplitfile, MIMEType: "image/png", Size: 100000, Split: testSplitfile(100000, true)}},
		}}},
		{Name: "index.html", Doc: &Document{Kind: KindInline, MIMEType: "text/html", Size: 5, Data: []byte("hello")}},
		{Name: "old", Doc: &Document{Kind: KindRedirect, MIMEType: "text/plain", Target: chkURI(tb, "old")}},
		{Name: "Ωμέγα.txt", Doc: &Document{Kind: KindInline, MIMEType: "text/plain", Size: 0, Data: []byte{}}},
	}}
	return map[string]*Document{
		"inline-empty":    {Kind: KindInline, MIMEType: DefaultMIMEType, Data: []byte{}},
		"inline":          {Kind: KindInline, MIMEType: "text/plain", Size: 11, Data: []byte("hello world")},
		"inline-zstd-age": {Kind: KindInline, MIMEType: "", Codec: CodecZstd, Age: true, Size: 99, Data: []byte("xyz")},
		"redirect-chk":    {Kind: KindRedirect, Target: chkURI(tb, "target")},
		"redirect-usk":    {Kind: KindRedirect, MIMEType: "text/html", Target: testURI(tb, "USK@"+crypto.RoutingKey(key("p")).String()+","+crypto.RoutingKey(key("c")).String()+",AQACAQA/blog/7/a/b.html")},
		"split-derived":   {Kind: KindSplitfile, MIMEType: "video/mp4", Size: 5 << 20, Split: testSplitfile(5<<20, true)},
		"split-explicit":  {Kind: KindSplitfile, MIMEType: "video/mp4", Size: 1 << 20, Split: testSplitfile(1<<20, false)},
		"split-one-block": {Kind: KindSplitfile, Size: 1, Split: testSplitfile(1, true)},
		"split-vandermonde": {Kind: KindSplitfile, MIMEType: "video/mp4", Size: 5 << 20, Split: func() *Splitfile {
			s := testSplitfile(5<<20, false)
			s.Code = CodeVandermonde
			return s
		}()},
		"split-zstd":     {Kind: KindSplitfile, MIMEType: "text/plain", Codec: CodecZstd, Size: 1 << 30, Split: testSplitfile(40000, true)},
		"split-metadata": {Kind: KindSplitfile, Metadata: true, Size: 70000, Split: testSplitfile(70000, true)},
		"parts":          {Kind: KindParts, MIMEType: "video/webm", Size: 5<<30 + 7, Parts: []Part{{Length: 2 << 30, Key: crypto.CHKKey{Routing: key("p1"), Crypto: key("c1")}}, {Length: 2 << 30, Key: crypto.CHKKey{Routing: key("p2"), Crypto: key("c2")}}, {Length: 1<<30 + 7, Key: crypto.CHKKey{Routing: key("p3"), Crypto: key("c3")}}}},
		"parts-zstd-age": {Kind: KindParts, Codec: CodecZstd, Age: true, Size: 1 << 40, Parts: []Part{{Length: 1, Key: crypto.CHKKey{Routing: key("q1")}}, {Length: 1, Key: crypto.CHKKey{Crypto: key("q2")}}}},
		"manifest-empty": {Kind: KindManifest},
		"manifest-site":  site,
	}
}

func TestDocumentRoundTrip(t *testing.T) {
	for name, d := range sampleDocuments(t) {
		t.Run(name, func(t *testing.T) {
			b, err := d.Encode()
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, d) {
				t.Fatalf("Decode(Encode(d)) differs:\n got %+v\nwant %+v", got, d)
			}
			again, err := got.Encode()
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("re-encoding differs (err %v)", err)
			}
			// Every strict prefix is refused: a document has one length.
			for _, cut := range []int{0, 1, len(b) / 2, len(b) - 1} {
				if cut < len(b) && name != "inline-empty" && name != "inline" && name != "inline-zstd-age" {
					if _, err := Decode(b[:cut]); err == nil {
						t.Errorf("prefix of %d bytes decoded", cut)
					}
				}
			}
			if _, err := Decode(append(bytes.Clone(b), 0)); err == nil && d.Kind != KindInline {
				t.Error("trailing byte accepted")
			}
		})
	}
}

func TestSplitfileSizes(t *testing.T) {
	// 40 bytes of fixed fields; a derived splitfile then costs 32 bytes per block, a listed
	// one 64: these are the figures spec §13.1 quotes.
	d := &Document{Kind: KindSplitfile, Size: 1 << 20, Split: testSplitfile(1<<20, true)}
	b, _ := d.Encode()
	_, total := d.Split.BlockCounts()
	if want := 2 + 11 + 1 + 32 + 8 + 4 + 2 + 32*total; len(b) != want {
		t.Errorf("derived splitfile of %d blocks is %d bytes, want %d", total, len(b), want)
	}
	d.Split = testSplitfile(1<<20, false)
	b, _ = d.Encode()
	if want := 2 + 11 + 1 + 8 + 4 + 2 + 64*total; len(b) != want {
		t.Errorf("listed splitfile of %d blocks is %d bytes, want %d", total, len(b), want)
	}
}

func TestDecodeRejects(t *testing.T) {
	enc := func(d *Document) []byte {
		b, err := d.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	inline := enc(&Document{Kind: KindInline, MIMEType: "text/plain", Size: 2, Data: []byte("hi")})
	mani := enc(&Document{Kind: KindManifest, Entries: []Entry{
		{Name: "a", Doc: &Document{Kind: KindInline, Size: 1, Data: []byte("1")}},
		{Name: "b", Doc: &Document{Kind: KindInline, Size: 1, Data: []byte("2")}},
	}})
	split := enc(&Document{Kind: KindSplitfile, Size: 100, Split: testSplitfile(100, true)})
	patch := func(b []byte, at int, v ...byte) []byte {
		c := bytes.Clone(b)
		copy(c[at:], v)
		return c
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "version"},
		{"version 2", patch(inline, 0, 2), "version 2"},
		{"unknown kind", patch(inline, 1, 9), "unknown kind"},
		{"unknown flag", patch(inline, 2, 0x80), "unknown flags"},
		{"unknown codec", patch(inline, 3, 7), "unknown codec"},
		{"control in MIME", patch(inline, 5, '\n'), "printable"},
		{"inline size mismatch", patch(inline, 5+10+7, 3), "inline size"},
		{"unsorted manifest", patch(mani, 2+1+4+1, 'c'), "not sorted"},
		{"duplicate names", patch(mani, 2+1+4+1, 'b'), "not sorted"},
		{"default names nothing", append([]byte{1, 4, 1, 'z'}, mani[3:]...), "default"},
		{"entry count too large", patch(mani, 3, 0xff, 0xff, 0xff, 0xff), "entries"},
		{"segment count too large", patch(split, 2+11+1+32+8, 0x7f, 0, 0, 0), "segments"},
		{"zero check blocks", patch(split, 2+11+1+32+8+4+1, 0), "check blocks"},
		{"unknown erasure code", patch(split, 2+11, 0x21), "unknown erasure code"},
		{"unknown key mode", patch(split, 2+11, 0x13), "unknown key mode"},
		{"segment the FFT code cannot take", patch(split, 2+11+1+32+8+4+1, 255), "cannot take"},
		{"length needs more blocks", patch(split, 2+11+1+32, 0, 0, 0, 0, 0, 1, 0, 0), "needs"},
		{"nested metadata with MIME", enc2(t, &Document{Kind: KindSplitfile, Size: 100, MIMEType: "x/y", Split: testSplitfile(100, true)}, 2, flagMetadata), "nested metadata"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.b)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode = %v, want ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// enc2 encodes d and sets byte at to v, for documents Encode itself would refuse.
func enc2(tb testing.TB, d *Document, at int, v byte) []byte {
	tb.Helper()
	b, err := d.Encode()
	if err != nil {
		tb.Fatal(err)
	}
	b[at] = v
	return b
}

func TestEncodeRefusesInvalid(t *testing.T) {
	for name, d := range map[string]*Document{
		"unsorted":        {Kind: KindManifest, Entries: []Entry{{Name: "b", Doc: &Document{Kind: KindManifest}}, {Name: "a", Doc: &Document{Kind: KindManifest}}}},
		"slash in name":   {Kind: KindManifest, Entries: []Entry{{Name: "a/b", Doc: &Document{Kind: KindManifest}}}},
		"dot-dot":         {Kind: KindManifest, Entries: []Entry{{Name: "..", Doc: &Document{Kind: KindManifest}}}},
		"no target":       {Kind: KindRedirect},
		"zero kind":       {},
		"splitfile no sf": {Kind: KindSplitfile},
		"bad size":        {Kind: KindSplitfile, Size: 5, Split: testSplitfile(100, true)},
	} {
		if _, err := d.Encode(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Encode = %v, want ErrMalformed", name, err)
		}
	}
	deep := &Document{Kind: KindManifest}
	for range MaxDepth + 1 {
		deep = &Document{Kind: KindManifest, Entries: []Entry{{Name: "d", Doc: deep}}}
	}
	if _, err := deep.Encode(); err == nil {
		t.Error("manifests nested beyond MaxDepth encoded")
	}
}

func TestLookup(t *testing.T) {
	site := sampleDocuments(t)["manifest-site"]
	if d := site.Lookup("Ωμέγα.txt"); d == nil || d.Kind != KindInline {
		t.Errorf("Lookup of a non-ASCII name = %v", d)
	}
	if d := site.Lookup("img").Lookup("cat.png"); d == nil || d.MIMEType != "image/png" {
		t.Errorf("Lookup in a subdirectory = %v", d)
	}
	if site.Lookup("missing") != nil {
		t.Error("Lookup found a missing name")
	}
}

func TestMIMEType(t *testing.T) {
	for _, tc := range []struct {
		name string
		head string
		want string
	}{
		{"index.html", "", "text/html"},
		{"PHOTO.JPG", "", "image/jpeg"},
		{"dir/style.css", "", "text/css"},
		{"", "<!DOCTYPE html><html>", "text/html; charset=utf-8"},
		{"README", "plain words\n", "text/plain; charset=utf-8"},
		{"blob", "\x89PNG\r\n\x1a\n\x00\x00", "image/png"},
		{"", "", DefaultMIMEType},
	} {
		if got := MIMEType(tc.name, []byte(tc.head)); got != tc.want {
			t.Errorf("MIMEType(%q, %q) = %q, want %q", tc.name, tc.head, got, tc.want)
		}
	}
}
