package metadata

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecode: Decode never panics, refuses with ErrMalformed, and whatever it accepts is the
// one encoding of its document (re-encoding gives the same bytes).
func FuzzDecode(f *testing.F) {
	for _, d := range sampleDocuments(f) {
		b, err := d.Encode()
		if err != nil {
			f.Fatal(err)
		}
		// Large seeds make every mutation and minimisation slow without covering more.
		if len(b) <= 4096 {
			f.Add(b)
		}
	}
	f.Add(mustEncode(f, &Document{Kind: KindSplitfile, Size: 3 * BlockSize, Split: testSplitfile(3*BlockSize, true)}))
	f.Add(mustEncode(f, &Document{Kind: KindSplitfile, Size: 3 * BlockSize, Split: testSplitfile(3*BlockSize, false)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		again, err := d.Encode()
		if err != nil {
			t.Fatalf("accepted document does not re-encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("two encodings of one document:\n%x\n%x", b, again)
		}
		if d.Kind == KindSplitfile {
			// Every key the fetcher will ask for can be computed.
			for s := range d.Split.Segments {
				for i := 0; i < d.Split.Segments[s].Blocks(); i++ {
					d.Split.Key(s, i)
				}
				d.Split.SegmentLength(s)
			}
		}
	})
}

// FuzzManifest: manifests are walked as the proxy walks them; every name found by walking is
// found again by Lookup, and the default always names an entry.
func FuzzManifest(f *testing.F) {
	for name, d := range sampleDocuments(f) {
		if d.Kind != KindManifest {
			continue
		}
		b, err := d.Encode()
		if err != nil {
			f.Fatal(name, err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Decode(b)
		if err != nil || d.Kind != KindManifest {
			return
		}
		var walk func(d *Document, depth int)
		walk = func(d *Document, depth int) {
			if depth > MaxDepth {
				t.Fatalf("manifest nested %d deep", depth)
			}
			if d.Default != "" && d.Lookup(d.Default) == nil {
				t.Fatalf("default %q names nothing", d.Default)
			}
			for _, e := range d.Entries {
				if err := CheckName(e.Name); err != nil {
					t.Fatalf("entry name %q: %v", e.Name, err)
				}
				if d.Lookup(e.Name) != e.Doc {
					t.Fatalf("Lookup(%q) misses its entry", e.Name)
				}
				if e.Doc.Kind == KindManifest {
					walk(e.Doc, depth+1)
				}
			}
		}
		walk(d, 0)
	})
}

func mustEncode(tb testing.TB, d *Document) []byte {
	tb.Helper()
	b, err := d.Encode()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
