package filter

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// realisticPage builds a page like a Lethe site's article index: a stylesheet in <head>,
// then articles with headings, paragraphs with links and emphasis, images with srcset,
// small tables and lists, some inline styles. About 72 KB.
func realisticPage() []byte {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>Articles</title>\n")
	b.WriteString("<link rel=\"stylesheet\" href=\"style.css\">\n<style>\n")
	b.WriteString(ordinaryCSS)
	b.WriteString("</style></head>\n<body><header><h1>Articles</h1><nav><ul>")
	for i := range 10 {
		fmt.Fprintf(&b, "<li><a href=\"section%d/index.html\">Section %d</a></li>", i, i)
	}
	b.WriteString("</ul></nav></header>\n<main>\n")
	for i := range 60 {
		fmt.Fprintf(&b, `<article id="a%d" class="card">
<h2><a href="articles/%d.html">Article number %d &amp; its title</a></h2>
<p class="meta" style="color: #666; font-size: 90%%">Posted in <a href="../tags/t%d/">tag %d</a></p>
<img src="img/%d.jpg" srcset="img/%d.jpg 1x, img/%d@2x.jpg 2x" alt="Picture %d" width="320" height="200">
<p>Lorem ipsum dolor sit amet, <em>consectetur</em> adipiscing elit. Sed do eiusmod tempor
incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation
ullamco laboris nisi ut aliquip ex ea commodo consequat. See <a href="/%s/notes.txt">the notes</a>
or <a href="https://example.org/ref/%d">the reference</a>.</p>
<p>Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla
pariatur. Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt
mollit anim id est laborum &mdash; caf&eacute;, na&iuml;ve.</p>
<table><tr><th>Size</th><th>Blocks</th></tr><tr><td>%d KiB</td><td>%d</td></tr></table>
<ul><li>One</li><li>Two</li><li><a href="#a%d">Back</a></li></ul>
</article>
`, i, i, i, i%7, i%7, i, i, i, i, other[1:], i, i*32, i, i)
	}
	b.WriteString("</main><footer><p>&copy; nobody</p></footer></body></html>\n")
	return []byte(b.String())
}

// benchBytes runs fn as a sub-benchmark over n bytes.
func benchBytes(b *testing.B, name string, n int, fn func() error) {
	b.Run(name, func(b *testing.B) {
		b.SetBytes(int64(n))
		for b.Loop() {
			if err := fn(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkHTML measures the filter beside the raw limits of the same run: x/net/html
// tokenising the same bytes without filtering, html.Parse building the tree, and a plain
// copy.
func BenchmarkHTML(b *testing.B) {
	in := realisticPage()
	var out bytes.Buffer
	benchBytes(b, "filter", len(in), func() error {
		out.Reset()
		return HTML(&out, bytes.NewReader(in), page)
	})
	benchBytes(b, "tokenize", len(in), func() error {
		z := html.NewTokenizer(bytes.NewReader(in))
		for z.Next() != html.ErrorToken {
		}
		return nil
	})
	benchBytes(b, "parse", len(in), func() error {
		_, err := html.Parse(bytes.NewReader(in))
		return err
	})
	benchBytes(b, "copy", len(in), func() error {
		out.Reset()
		_, err := io.Copy(&out, bytes.NewReader(in))
		return err
	})
}

func BenchmarkCSS(b *testing.B) {
	in := []byte(strings.Repeat(ordinaryCSS, 40))
	var out bytes.Buffer
	benchBytes(b, "filter", len(in), func() error {
		out.Reset()
		return CSS(&out, bytes.NewReader(in), cssPage)
	})
	benchBytes(b, "copy", len(in), func() error {
		out.Reset()
		_, err := io.Copy(&out, bytes.NewReader(in))
		return err
	})
}

func BenchmarkImage(b *testing.B) {
	// A photo-sized JPEG (1024×768, noisy so that it does not compress to nothing).
	img := image.NewRGBA(image.Rect(0, 0, 1024, 768))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range img.Pix {
		img.Pix[i] = uint8(i/4096) + uint8(rng.IntN(32))
	}
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, img, &jpeg.Options{Quality: 85}); err != nil {
		b.Fatal(err)
	}
	in := jb.Bytes()
	var out bytes.Buffer
	benchBytes(b, "jpeg", len(in), func() error {
		out.Reset()
		return Image(&out, bytes.NewReader(in), KindJPEG)
	})
	benchBytes(b, "copy", len(in), func() error {
		out.Reset()
		_, err := io.Copy(&out, bytes.NewReader(in))
		return err
	})
}

func TestRealisticPageIsSafe(t *testing.T) {
	in := realisticPage()
	out := filterHTML(t, string(in))
	if p := unsafeHTML(out); len(p) > 0 {
		t.Fatal(p)
	}
	if n := strings.Count(out, "<article"); n != 60 {
		t.Errorf("%d articles, want 60", n)
	}
}
