package proxy

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"lethe/crypto"
	"lethe/insert"
)

// TestSite: a site opens at its key with the trailing slash added, its index is filtered
// (no script survives) with relative links made absolute inside the site, and the links
// lead to the files they name.
func TestSite(t *testing.T) {
	p := newTestProxy(t, Config{})
	usk := newUSK(t, "blog", 1)
	uri := insertSite(t, p.st, usk, map[string][]byte{
		"index.html":       []byte(`<html><head><link rel=stylesheet href="style.css"><script>alert(1)</script></head><body><a href="posts/">posts</a> <a href="about.html">about</a> <img src="cat.png" onerror="alert(2)"></body></html>`),
		"about.html":       []byte(`<p>About <a href="http://example.com/">elsewhere</a></p>`),
		"style.css":        []byte(`body { background: url(bg.png) } p { color: red; behavior: url(x.htc) }`),
		"posts/index.html": []byte(`<p>posts: <a href="../about.html">up</a></p>`),
		"posts/1.txt":      []byte("first post"),
	})
	site := pathOf(uri.WithPath(""))
	resp, _ := p.get(t, site)
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != site+"/" {
		t.Fatalf("GET %s: %d to %q, want 301 to the path with a slash", site, resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := p.get(t, site+"/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("index: %d\n%s", resp.StatusCode, body)
	}
	if strings.Contains(body, "script") || strings.Contains(body, "alert") {
		t.Errorf("the index kept script:\n%s", body)
	}
	for _, want := range []string{`href="` + site + `/posts/"`, `href="` + site + `/about.html"`, `src="` + site + `/cat.png"`} {
		if !strings.Contains(body, want) {
			t.Errorf("index lacks %s:\n%s", want, body)
		}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
	resp, body = p.get(t, site+"/posts")
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != site+"/posts/" {
		t.Errorf("a directory without its slash: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body = p.get(t, site+"/posts/")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `href="`+site+`/about.html"`) {
		t.Errorf("posts index: %d\n%s", resp.StatusCode, body)
	}
	resp, body = p.get(t, site+"/about.html")
	if !strings.Contains(body, `href="/external?url=http%3A%2F%2Fexample.com%2F"`) {
		t.Errorf("an outside link does not go to the warning page:\n%s", body)
	}
	resp, body = p.get(t, site+"/style.css")
	if resp.Header.Get("Content-Type") != "text/css; charset=utf-8" || strings.Contains(body, "behavior") || !strings.Contains(body, site+"/bg.png") {
		t.Errorf("stylesheet %q:\n%s", resp.Header.Get("Content-Type"), body)
	}
	resp, body = p.get(t, site+"/posts/1.txt")
	if body != "first post" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("text file: %q as %q", body, resp.Header.Get("Content-Type"))
	}
}

// TestFileKinds: each kind of file is served as the filter decides: images checked and
// stripped, audio and video as attachments, PDFs behind a warning, text as text.
func TestFileKinds(t *testing.T) {
	p := newTestProxy(t, Config{})
	png := pngImage(t)
	files := map[string][]byte{
		"cat.png":   png,
		"fake.png":  []byte("<script>alert(1)</script> not a png at all"),
		"song.mp3":  randomBytes(1, 5000),
		"doc.pdf":   []byte("%PDF-1.4 /JavaScript (app.alert(1))"),
		"prog.exe":  []byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00"),
		"notes.txt": []byte("<b>not markup</b>"),
	}
	uri := insertSite(t, p.st, crypto.InsertURI{Type: crypto.CHK}, files)
	at := func(name string) string { return pathOf(uri.WithPath("/" + name)) }

	resp, body := p.get(t, at("cat.png"))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" || !strings.HasPrefix(body, "\x89PNG") {
		t.Errorf("png: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, body = p.get(t, at("fake.png"))
	if resp.StatusCode != http.StatusBadGateway || strings.Contains(body, "<script>alert") {
		t.Errorf("a png that is not one: %d\n%s", resp.StatusCode, body)
	}
	resp, body = p.get(t, at("song.mp3"))
	if resp.StatusCode != http.StatusOK || body != string(files["song.mp3"]) ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") || resp.Header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("audio: %d, %q, ranges %q", resp.StatusCode, resp.Header.Get("Content-Disposition"), resp.Header.Get("Accept-Ranges"))
	}
	resp, body = p.get(t, at("notes.txt"))
	if resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || resp.Header.Get("X-Content-Type-Options") != "nosniff" || body != "<b>not markup</b>" {
		t.Errorf("text: %q %q", resp.Header.Get("Content-Type"), body)
	}
	for _, name := range []string{"doc.pdf", "prog.exe"} {
		resp, body = p.get(t, at(name), navigate)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "not shown in the browser") || strings.Contains(body, "JavaScript (app") {
			t.Errorf("%s: %d, want the warning page\n%s", name, resp.StatusCode, body)
			continue
		}
		m := regexp.MustCompile(`href="([^"]+\?download=[^"]+)"`).FindStringSubmatch(body)
		if m == nil {
			t.Errorf("%s: the warning page has no download link\n%s", name, body)
			continue
		}
		link := html.UnescapeString(m[1])
		resp, body = p.get(t, link)
		if body != string(files[name]) || resp.Header.Get("Content-Type") != "application/octet-stream" ||
			!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
			t.Errorf("%s after the warning: %q as %q, %q", name, body, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"))
		}
		// A token of another file, or none made by the proxy, shows the warning again.
		resp, body = p.get(t, at(name)+"?download=AAAA")
		if !strings.Contains(body, "not shown in the browser") {
			t.Errorf("%s with a made-up token was served", name)
		}
	}
}

// TestUSKRedirect: a tab opening an older edition of a site is sent to the newest, and
// remembers it; the pages' own requests (stylesheets, images) get the edition they name.
func TestUSKRedirect(t *testing.T) {
	clock := newClock()
	p := newTestProxy(t, Config{Now: clock.now})
	usk := newUSK(t, "news", 2)
	for n := range int64(3) {
		insertSite(t, p.st, usk.WithEdition(n), map[string][]byte{"index.html": []byte(fmt.Sprintf("<p>edition %d</p>", n))})
	}
	req := requestURI(t, usk)
	resp, _ := p.get(t, pathOf(req.WithPath("/")), navigate)
	if want := pathOf(req.WithEdition(2).WithPath("/")); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != want {
		t.Fatalf("edition 0: %d to %q, want 302 to %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	resp, body := p.get(t, pathOf(req.WithPath("/index.html")), "Sec-Fetch-Mode: no-cors")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "edition 0") {
		t.Errorf("a page's own request for edition 0: %d %q", resp.StatusCode, body)
	}
	resp, body = p.get(t, pathOf(req.WithEdition(2).WithPath("/")), navigate)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "edition 2") {
		t.Errorf("the newest edition: %d %q", resp.StatusCode, body)
	}
	// Edition 3 appears: within editionRecheck the proxy trusts what it found; after it, it
	// looks again.
	insertSite(t, p.st, usk.WithEdition(3), map[string][]byte{"index.html": []byte("<p>edition 3</p>")})
	resp, _ = p.get(t, pathOf(req.WithEdition(1).WithPath("/")), navigate)
	if want := pathOf(req.WithEdition(2).WithPath("/")); resp.Header.Get("Location") != want {
		t.Errorf("edition 1 within a minute of the search: to %q, want %q", resp.Header.Get("Location"), want)
	}
	clock.advance(editionRecheck)
	resp, _ = p.get(t, pathOf(req.WithEdition(1).WithPath("/")), navigate)
	if want := pathOf(req.WithEdition(3).WithPath("/")); resp.Header.Get("Location") != want {
		t.Errorf("edition 1 after the recheck time: to %q, want %q", resp.Header.Get("Location"), want)
	}
}

// TestKeyTypes: files under SSK and KSK keys open like CHKs and USK sites.
func TestKeyTypes(t *testing.T) {
	p := newTestProxy(t, Config{})
	ssk, err := crypto.GenerateSSKURI(chacha(5))
	if err != nil {
		t.Fatal(err)
	}
	ssk.DocName = "notes"
	for _, target := range []crypto.InsertURI{ssk, {Type: crypto.KSK, Keyword: "lethe proxy test"}} {
		data := []byte("under " + target.Type.String())
		uri, err := insert.File(context.Background(), p.st, target, bytes.NewReader(data), insert.Config{Name: "n.txt"})
		if err != nil {
			t.Fatal(err)
		}
		resp, body := p.get(t, pathOf(uri))
		if resp.StatusCode != http.StatusOK || body != string(data) {
			t.Errorf("%v: %d %q", uri.Type, resp.StatusCode, body)
		}
	}
}
