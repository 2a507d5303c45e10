package proxy

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"lethe/crypto"
	"lethe/index"
)

// publishIndex indexes a site's pages and publishes the index under a USK of its own.
func publishIndex(tb testing.TB, p *testProxy, site crypto.RequestURI, pages map[string]string, seed uint64) crypto.RequestURI {
	tb.Helper()
	var docs []index.Doc
	for name, text := range pages {
		docs = append(docs, index.Doc{URI: site.WithPath("/" + name), Title: name, Text: text})
	}
	corpus := func(yield func(index.Doc) error) error {
		for _, d := range docs {
			if err := yield(d); err != nil {
				return err
			}
		}
		return nil
	}
	rep, err := index.Publish(context.Background(), nil, index.InsertPutter{P: p.st}, newUSK(tb, "idx", seed), nil, corpus,
		index.Options{Title: "Test index", TempDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	return rep.URI
}

func (p *testProxy) bookmark(tb testing.TB, u crypto.RequestURI, title string) {
	tb.Helper()
	form := url.Values{"token": {p.token(tb)}, "uri": {u.String()}, "title": {title}}
	resp, _ := p.do(tb, http.MethodPost, "/bookmarks", strings.NewReader(form.Encode()), "Content-Type: application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusSeeOther {
		tb.Fatalf("bookmark: %s", resp.Status)
	}
}

// TestSearchPage: the page searches the bookmarks that are indexes (a site bookmark is
// passed over), ranks the hits, and links them through the proxy.
func TestSearchPage(t *testing.T) {
	p := newTestProxy(t, Config{})
	pages := map[string]string{
		"a.html": "<p>Installing Debian on a laptop</p>",
		"b.html": "<p>Debian Debian install guide</p>",
		"c.html": "<p>Unrelated cooking recipes</p>",
	}
	files := map[string][]byte{}
	for k, v := range pages {
		files[k] = []byte(v)
	}
	site := insertSite(t, p.st, newUSK(t, "site", 1), files)
	ix := publishIndex(t, p, site, pages, 2)
	p.bookmark(t, site, "A site")
	p.bookmark(t, ix, "My index")

	resp, body := p.get(t, "/search")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "My index") || strings.Contains(body, "A site") {
		t.Fatalf("search page without a query: %s\n%s", resp.Status, body)
	}
	resp, body = p.get(t, "/search?q=debian+INSTALL")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("search: %s", resp.Status)
	}
	first, second := strings.Index(body, pathOf(site.WithPath("/b.html"))), strings.Index(body, pathOf(site.WithPath("/a.html")))
	if first < 0 || second < 0 || first > second {
		t.Errorf("b.html should come first, then a.html:\n%s", body)
	}
	if strings.Contains(body, "c.html") {
		t.Errorf("c.html holds neither word but is listed:\n%s", body)
	}
	if strings.Contains(body, "<script") {
		t.Error("the search page holds a script")
	}
	_, body = p.get(t, "/search?q=nosuchword")
	if !strings.Contains(body, "No document") {
		t.Errorf("a query that finds nothing should say so:\n%s", body)
	}
	resp, _ = p.get(t, "/search?q="+strings.Repeat("a", maxQuery+1))
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("an overlong query: %s, want 400", resp.Status)
	}
}
