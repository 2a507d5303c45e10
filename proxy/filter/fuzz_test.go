package filter

import (
	"bytes"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
	"unicode/utf8"

	"lethe/crypto"
)

// The fuzz targets use the checker of checker_test.go as their property: whatever the
// input, the filter does not fail, its output holds nothing the checker calls unsafe, and
// filtering the output again gives the same bytes.

func FuzzHTML(f *testing.F) {
	for _, tc := range htmlAttacks {
		f.Add(keyed(tc.Input))
	}
	for _, tc := range cssAttacks {
		f.Add("<style>" + keyed(tc.Input) + "</style>")
	}
	f.Add(keyed(ordinaryPage))
	f.Fuzz(func(t *testing.T, in string) {
		out := filterHTML(t, in)
		if p := unsafeHTML(out); len(p) > 0 {
			t.Fatalf("filtered %q\ngives %q\nwhich has %v", in, out, p)
		}
		if !utf8.ValidString(out) {
			t.Fatalf("output is not UTF-8: %q", out)
		}
		if again := filterHTML(t, out); again != out {
			t.Fatalf("filtering twice changes the page:\nin     %q\nonce   %q\ntwice  %q", in, out, again)
		}
	})
}

func FuzzCSS(f *testing.F) {
	for _, tc := range cssAttacks {
		f.Add(keyed(tc.Input))
	}
	f.Add(ordinaryCSS)
	f.Add(`a{color:red; background: url(x.png) no-repeat; width: calc(100% - 2em)}`)
	f.Fuzz(func(t *testing.T, in string) {
		out := filterCSS(t, in)
		if p := unsafeCSS(out); len(p) > 0 {
			t.Fatalf("filtered %q\ngives %q\nwhich has %v", in, out, p)
		}
		if strings.Contains(out, "</") || !utf8.ValidString(out) {
			t.Fatalf("output %q holds \"</\" or is not UTF-8", out)
		}
		if again := filterCSS(t, out); again != out {
			t.Fatalf("filtering twice changes the stylesheet:\nin     %q\nonce   %q\ntwice  %q", in, out, again)
		}
		attr, err := StyleAttribute(in, page)
		if err != nil {
			t.Fatal(err)
		}
		if p := unsafeCSS(attr); len(p) > 0 {
			t.Fatalf("style attribute %q gives %q, which has %v", in, attr, p)
		}
		if again, _ := StyleAttribute(attr, page); again != attr {
			t.Fatalf("filtering a style attribute twice: %q then %q", attr, again)
		}
		assertRoundTrip(t, in)
	})
}

func FuzzRewrite(f *testing.F) {
	for _, s := range []string{"a.html", "../x/", "#f", "http://x/", "//x", "javascript:x",
		other + "/f", "lethe:" + other[1:], "/external?url=x", "a%2Fb", "\\\\x", "x,", ""} {
		f.Add(s)
	}
	rw, err := newRewriter(page)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, kind := range []refKind{refLink, refResource, refForm} {
			out, ok := rw.rewrite(in, kind)
			if !ok {
				continue
			}
			if p := unsafeURL(out); p != "" {
				t.Fatalf("rewrite(%q, %d) = %q: %s", in, kind, out, p)
			}
			if kind != refLink && strings.HasPrefix(out, ExternalPath) {
				t.Fatalf("rewrite(%q, %d) = %q: only links go to the warning page", in, kind, out)
			}
			if p, _, _ := strings.Cut(out, "#"); strings.HasPrefix(p, "/") && !strings.HasPrefix(p, ExternalPath) {
				// The written path is the canonical URI, as crypto formats it.
				dec := percentDecode(p)[1:]
				u, err := crypto.ParseURI(dec)
				if err != nil || u.String() != dec {
					t.Fatalf("rewrite(%q, %d) = %q, whose URI %q is not canonical (%v)", in, kind, out, dec, err)
				}
			}
			if again, ok := rw.rewrite(out, kind); !ok || again != out {
				t.Fatalf("rewrite(%q, %d) = %q, which rewrites to %q, %v", in, kind, out, again, ok)
			}
		}
	})
}

func FuzzImage(f *testing.F) {
	f.Add(testJPEG(f), uint8(0))
	f.Add(testPNG(f), uint8(1))
	f.Add(testGIF(f), uint8(2))
	f.Add(testWebP(), uint8(3))
	kinds := []Kind{KindJPEG, KindPNG, KindGIF, KindWebP}
	decoders := []func([]byte) (image.Image, error){
		func(b []byte) (image.Image, error) { return jpeg.Decode(bytes.NewReader(b)) },
		func(b []byte) (image.Image, error) { return png.Decode(bytes.NewReader(b)) },
		func(b []byte) (image.Image, error) { return gif.Decode(bytes.NewReader(b)) },
		nil,
	}
	f.Fuzz(func(t *testing.T, in []byte, k uint8) {
		i := int(k) % len(kinds)
		var out bytes.Buffer
		if err := Image(&out, bytes.NewReader(in), kinds[i]); err != nil {
			return
		}
		again := filterImage(t, out.Bytes(), kinds[i])
		if !bytes.Equal(again, out.Bytes()) {
			t.Fatalf("filtering twice changes the image")
		}
		dec := decoders[i]
		if dec == nil {
			return
		}
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(in)); err != nil || cfg.Width*cfg.Height > 1<<16 {
			return
		}
		want, err := dec(in)
		if err != nil {
			return
		}
		got, err := dec(out.Bytes())
		if err != nil {
			t.Fatalf("the input decodes but the filtered image does not: %v", err)
		}
		if !samePixels(want, got) {
			t.Fatalf("filtered image looks different")
		}
	})
}
