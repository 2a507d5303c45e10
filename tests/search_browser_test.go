package tests

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"lethe/crawl"
	"lethe/crypto"
	"lethe/index"
	"lethe/proxy/browsertest"
	"lethe/proxy/filter"
)

// TestSearchInBrowser is the proxy's search page in a real headless Chromium over a test
// network: an index of a small site, bookmarked at the node with the proxy, is searched from
// the page, the results are listed, and a click on the first opens the document through the
// proxy. DevTools must show that the browser asked nothing of any origin but the proxy and
// compiled no script.
func TestSearchInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser test runs headless Chromium; not in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b := browsertest.New(t, ctx)
	tab := b.NewTab()
	b.CheckInstruments(tab)

	tn, _ := startTestnet(t, 6, nil)
	reader := 0
	pc := client(t, tn.Nodes[tn.Farthest(reader)])
	key, _, err := pc.GenerateSSK(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key.Type, key.Site = crypto.USK, "garden"
	pages := map[string]string{
		"index.html":    `<title>Garden</title><p>A garden of <a href="kumquat.html">kumquats</a>.</p>`,
		"kumquat.html":  `<title>Growing kumquats</title><p>Kumquat trees like sun. Kumquat, kumquat.</p><img src="leaf.png">`,
		"citrus.html":   `<title>Citrus</title><p>Lemons, limes and one kumquat.</p>`,
		"unrelated.txt": "Nothing about that fruit here.",
	}
	site := putSite(t, pc, key, pages)
	var docs []index.Doc
	if err := crawl.Dir(writeSite(t, pages), site, 0)(func(d index.Doc) error { docs = append(docs, d); return nil }); err != nil {
		t.Fatal(err)
	}
	ikey, _, err := pc.GenerateSSK(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ikey.Type, ikey.Site = crypto.USK, "garden-index"
	store := crawl.ClientStore{C: pc}
	rep, err := index.Publish(ctx, store, store, ikey, nil, func(yield func(index.Doc) error) error {
		for _, d := range docs {
			if err := yield(d); err != nil {
				return err
			}
		}
		return nil
	}, index.Options{Title: "Garden index", TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}

	proxy := "http://" + tn.Nodes[reader].ProxyAddr()
	bookmark(t, proxy, rep.URI, "Garden index")
	b.Reset()
	if err := tab.Open(proxy + "/search?q=kumquat+tree"); err != nil {
		t.Fatal(err)
	}
	first := filter.Path(site.WithPath("/kumquat.html"))
	if err := tab.MouseClick(`ol.results a`); err != nil {
		t.Fatal(err)
	}
	rec := b.Record()
	if rec.Documents[proxy+"/search?q=kumquat+tree"] != http.StatusOK {
		t.Errorf("the search page was not served: %v", rec.Documents)
	}
	if rec.Documents[proxy+first] != http.StatusOK {
		t.Errorf("the click did not open %s through the proxy: documents %v", first, rec.Documents)
	}
	for _, u := range rec.Requests {
		if !strings.HasPrefix(u, proxy+"/") {
			t.Errorf("the browser asked for something other than the proxy: %s", u)
		}
	}
	if len(rec.Scripts) > 0 || len(rec.Console) > 0 {
		t.Errorf("scripts ran: %v %v", rec.Scripts, rec.Console)
	}
	t.Logf("search, results and a click through: %d requests, all to the proxy", len(rec.Requests))
	dirs := []string{t.TempDir()}
	if dir := os.Getenv("LETHE_SCREENSHOTS"); dir != "" {
		dirs = append(dirs, dir)
	}
	if err := tab.Open(proxy + "/search?q=kumquat+tree"); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		tab.Screenshot(filepath.Join(d, "search.png"))
	}
}

// writeSite writes a site's files to a directory, for crawl.Dir.
func writeSite(tb testing.TB, files map[string]string) string {
	tb.Helper()
	dir := tb.TempDir()
	for name, body := range files {
		writeDoc(tb, dir+"/"+name, []byte(body))
	}
	return dir
}

var tokenField = regexp.MustCompile(`name="token" value="([^"]+)"`)

// bookmark adds a bookmark at a proxy, as its home page's form does.
func bookmark(tb testing.TB, proxy string, u crypto.RequestURI, title string) {
	tb.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(proxy + "/")
	if err != nil {
		tb.Fatal(err)
	}
	var body strings.Builder
	_, _ = io.Copy(&body, resp.Body)
	resp.Body.Close()
	m := tokenField.FindStringSubmatch(body.String())
	if m == nil {
		tb.Fatal("no token on the proxy's home page")
	}
	form := url.Values{"token": {m[1]}, "uri": {u.String()}, "title": {title}}
	resp, err = c.PostForm(proxy+"/bookmarks", form)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		tb.Fatalf("bookmark %v: %s", u, resp.Status)
	}
}
