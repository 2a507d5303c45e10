package proxy

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"lethe/crypto"
	"lethe/fetch"
	"lethe/insert"
)

// TestErrorPages: each way a fetch fails has its status and a page that says what happened.
func TestErrorPages(t *testing.T) {
	p := newTestProxy(t, Config{MaxSize: 1 << 20})
	site := insertSite(t, p.st, crypto.InsertURI{Type: crypto.CHK}, map[string][]byte{"index.html": []byte("<p>hi</p>")})
	big := insertFile(t, p.st, randomBytes(3, 1<<20+1), insert.Config{Name: "big.bin"})
	missing := insertFile(t, insert.Discard, []byte("never inserted"), insert.Config{})
	lost := insertFile(t, p.st, randomBytes(4, 200<<10), insert.Config{Name: "lost.mp4"})
	doc, err := fetch.New(p.st, fetch.Config{}).Resolve(context.Background(), lost)
	if err != nil {
		t.Fatal(err)
	}
	for _, rk := range doc.Split.Segments[0].Routing {
		p.st.Delete(rk)
	}
	for _, tc := range []struct {
		name, path string
		status     int
		says       string
	}{
		{"malformed", "/CHK@notakey", http.StatusBadRequest, "Malformed URI"},
		{"insert URI", "/" + newUSK(t, "s", 1).String(), http.StatusBadRequest, "Malformed URI"},
		{"not in the site", pathOf(site.WithPath("/nope.html")), http.StatusNotFound, "no file at this path"},
		{"not in the network", pathOf(missing), http.StatusNotFound, "did not find this key"},
		{"blocks lost", pathOf(lost), http.StatusNotFound, "Too few of the file"},
		{"too big", pathOf(big), http.StatusRequestEntityTooLarge, "larger than this proxy serves"},
		{"no such page", "/settings", http.StatusNotFound, "no page here"},
	} {
		resp, body := p.get(t, tc.path)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.says) {
			t.Errorf("%s: %d, want %d saying %q\n%s", tc.name, resp.StatusCode, tc.status, tc.says, body)
		}
		if resp.Header.Get("Content-Security-Policy") != pageCSP {
			t.Errorf("%s: the error page's CSP is %q", tc.name, resp.Header.Get("Content-Security-Policy"))
		}
	}
	if resp, _ := p.do(t, http.MethodPut, "/", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("PUT: %d", resp.StatusCode)
	}
}

// TestNonCanonicalPaths: a key path with a prefix is sent to its one spelling.
func TestNonCanonicalPaths(t *testing.T) {
	p := newTestProxy(t, Config{})
	uri := insertFile(t, p.st, []byte("x"), insert.Config{Name: "x.txt"})
	for _, prefix := range []string{"lethe:", "freenet:"} {
		resp, _ := p.get(t, "/"+prefix+uri.String())
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != pathOf(uri) {
			t.Errorf("%s: %d to %q", prefix, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// TestListing: a directory without a default file is listed, with links to its entries.
func TestListing(t *testing.T) {
	p := newTestProxy(t, Config{})
	uri := insertSite(t, p.st, crypto.InsertURI{Type: crypto.CHK}, map[string][]byte{
		"a.txt":       []byte("a"),
		"sub/b.txt":   []byte("b"),
		"<x>&y.txt":   []byte("c"),
		"sub/c/d.txt": []byte("d"),
	})
	resp, body := p.get(t, pathOf(uri.WithPath("/")))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `href="`+pathOf(uri.WithPath("/a.txt"))+`"`) ||
		!strings.Contains(body, `href="`+pathOf(uri.WithPath("/sub/"))+`"`) || strings.Contains(body, "<x>") {
		t.Errorf("listing: %d\n%s", resp.StatusCode, body)
	}
	resp, body = p.get(t, pathOf(uri.WithPath("/sub/")))
	if !strings.Contains(body, `href="`+pathOf(uri.WithPath("/"))+`"`) || !strings.Contains(body, "c/") {
		t.Errorf("sub listing has no way up, or misses c/:\n%s", body)
	}
}
