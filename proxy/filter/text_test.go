package filter

import (
	"strings"
	"testing"
	"unicode/utf8"
)

const textPage = "/CHK@AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,AQABAQA/site/dir/page.html"

// TestExtractText: the text of a page is what the filter lets a browser show: no script,
// no style, entities decoded, words of different blocks apart; links are the in-network
// ones the filter keeps, resolved against the page, each once.
func TestExtractText(t *testing.T) {
	page := Page{Path: textPage}
	html := `<html><head><title>The &amp; Title</title><style>p{color:red}</style><script>secret()</script></head>
<body><h1>Head</h1><p>one<br>two</p><a href="other.html#x">o</a><a href="other.html">again</a>
<a href="https://example.com/">out</a><a href="javascript:evil()">js</a><img src="pic.png"></body></html>`
	got, err := ExtractText(strings.NewReader(html), "text/html", "page.html", page, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != "The & Title" {
		t.Errorf("title %q", got.Title)
	}
	for _, bad := range []string{"secret", "color", "onetwo"} {
		if strings.Contains(got.Body, bad) {
			t.Errorf("body holds %q: %q", bad, got.Body)
		}
	}
	if !strings.Contains(got.Body, "Head") || !strings.Contains(got.Body, "one") {
		t.Errorf("body %q", got.Body)
	}
	if len(got.Links) != 1 || got.Links[0].Path != "/site/dir/other.html" {
		t.Errorf("links %v, want the one in-network page once", got.Links)
	}
	plain, err := ExtractText(strings.NewReader("plain\xfftext"), "text/plain", "a.txt", page, 1<<20)
	if err != nil || plain.Body != "plain\uFFFDtext" {
		t.Errorf("plain text: %q, %v", plain.Body, err)
	}
	if _, err := ExtractText(strings.NewReader("GIF89a"), "image/gif", "a.gif", page, 1<<20); err == nil {
		t.Error("an image gave text")
	}
}

// FuzzExtractText: any page gives text that is UTF-8, or an error; never a panic.
func FuzzExtractText(f *testing.F) {
	f.Add("<title>x</title><p>y<a href=z.html>z</a>", "text/html")
	f.Add("plain", "text/plain")
	f.Fuzz(func(t *testing.T, doc, mimeType string) {
		got, err := ExtractText(strings.NewReader(doc), mimeType, "f.html", Page{Path: textPage}, 1<<16)
		if err != nil {
			return
		}
		if !utf8.ValidString(got.Title) || !utf8.ValidString(got.Body) {
			t.Fatalf("text is not UTF-8: %q %q", got.Title, got.Body)
		}
	})
}
