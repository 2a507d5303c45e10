package proxy

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/insert"
	"lethe/proxy/browsertest"
	"lethe/proxy/filter/filtertest"
)

// TestBrowser serves a site full of attacks through the proxy to a real Chromium, opens every
// page, and checks from DevTools that the browser asked nothing of any origin but the proxy,
// compiled no script and broke no policy, and that canary servers the attacks aim at were
// never reached (package browsertest). It first proves its instruments on an unfiltered page
// that does all of that. It takes screenshots of the home and status pages. The blocks come
// from an in-memory store; tests/browser_test.go does the same over a real test network.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser test runs headless Chromium; not in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := browsertest.New(t, ctx)
	tabs := []*browsertest.Tab{b.NewTab(), b.NewTab()} // two at a time: the machine has two cores
	b.CheckInstruments(tabs[0])

	target := browsertest.NewCanary(t)
	p := newTestProxy(t, Config{Status: func() Status { return sampleStatusAt(time.Now()) }})
	images := insertSite(t, p.st, crypto.InsertURI{Type: crypto.CHK}, browsertest.ImageFiles())
	site := browsertest.AttackSite(target.Addr(), images.String())
	key := insertSite(t, p.st, newUSK(t, "attacks", 7), site.Files)
	v := b.Visit(tabs, p.url, p.url+pathOf(key.WithPath("")), site, target)
	t.Logf("%d pages opened (%d HTML and %d CSS attacks), %d requests: %d to the proxy, %d media-control icons of Chromium's own",
		v.Opened, len(filtertest.HTML), len(filtertest.CSS), v.Requests, v.ToProxy, v.OwnIcons)

	// Screenshots of the home and status pages; those in docs/ come from a real node
	// (tests/browser_test.go).
	tabs[0].ProxyScreenshots(p.url, t.TempDir())

	// Pages of other origins embed and open keys on the proxy: one the user has opened (in
	// the proxy's memory) and one never opened. The node fetches nothing for them, the tab
	// they navigate shows the page that asks first, and the user's own navigation works.
	held := p.url + pathOf(key.WithPath("/"))
	fresh := insertFile(t, p.st, []byte("<p>a page nobody opened</p>"), insert.Config{Name: "fresh.html"})
	never := p.url + pathOf(fresh)
	// Fresh tabs: the visit's may still reload pages of the proxy that refresh themselves.
	tab, user := b.NewTab(), b.NewTab()
	if err := user.Open(held); err != nil {
		t.Fatal(err)
	}
	p.st.ResetCounts()
	landed := b.NewOtherSites([]string{held, never}).Visit(tab)
	if n := p.st.TotalGets(); n != 0 {
		t.Errorf("pages of other origins made the node fetch %d blocks", n)
	}
	if landed[never] != http.StatusOK || !strings.Contains(tab.Text(), "Open this key?") {
		t.Errorf("another origin's navigation to a key: documents %v, the tab shows:\n%s", landed, tab.Text())
	}
	if err := tab.Click("Open it"); err != nil {
		t.Fatal(err)
	}
	if text := tab.Text(); !strings.Contains(text, "a page nobody opened") || p.st.TotalGets() == 0 {
		t.Errorf("the user opening the key from the page that asks: %d blocks fetched, the tab shows:\n%s", p.st.TotalGets(), text)
	}
	if err := user.Open(never); err != nil || !strings.Contains(user.Text(), "a page nobody opened") {
		t.Errorf("the user's own navigation to the key: %v, the tab shows:\n%s", err, user.Text())
	}
}
