package proxy

import (
	"net/http"
	"strings"
	"testing"
)

// TestSite: a site opens at its key with the trailing slash added, its index is filtered
// (no script survives) with relative links made absolute inside the site, and the links
// lead to the files they name.
func TestSite(t *testing.T) {
	p := newTestProxy(t, Config{})
	usk := newUSK(t, "blog", 1)
	uri := insertSite(t, p.st, usk, map[string][]byte{
		"index.html":     []byte(`<html><head><link rel=stylesheet href="style.css"><script>alert(1)</script></head><body><a href="posts/">posts</a> <a href="about.html">about</a> <img src="cat.png" onerror="alert(2)"></body></html>`),
		"about.html":     []byte(`<p>About <a href="http://example.com/">elsewhere</a></p>`),
		"style.css":      []byte(`body { background: url(bg.png) } p { color: red; behavior: url(x.htc) }`),
		"posts/index.html": []byte(`<p>posts: <a href="../about.html">up</a></p>`),
		"posts/1.txt":    []byte("first post"),
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
