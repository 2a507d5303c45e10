package tests

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/proxy/browsertest"
	"lethe/proxy/filter"
	"lethe/proxy/filter/filtertest"
)

// TestBrowserOverTestnet is the browsing proxy as a user meets it: a site full of attacks on
// the content filter and the proxy, inserted at one node of a test network over the client
// protocol, opened page by page in a real headless Chromium through the proxy of the node
// farthest from it (the first: the one with a proxy). DevTools must show that the browser asked nothing of any origin but that
// proxy and compiled no script, and the canary server the attacks aim at (another loopback
// port) must hear nothing. It saves screenshots of the proxy's home and status pages, into
// the test's temporary directory and, when LETHE_SCREENSHOTS names a directory, there too.
//
// It skips only where Chromium is missing and cannot be installed (package browsertest).
func TestBrowserOverTestnet(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser test runs headless Chromium; not in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b := browsertest.New(t, ctx)                       // first, so that a skip comes before the network starts
	tabs := []*browsertest.Tab{b.NewTab(), b.NewTab()} // two at a time: the machine has two cores
	b.CheckInstruments(tabs[0])

	tn, _ := startTestnet(t, 6, nil)
	reader := 0 // the node with the browsing proxy
	publisher := tn.Farthest(reader)
	pc := client(t, tn.Nodes[publisher])
	target := browsertest.NewCanary(t)
	images := putSite(t, pc, crypto.InsertURI{Type: crypto.CHK}, stringFiles(browsertest.ImageFiles()))
	site := browsertest.AttackSite(target.Addr(), images.String())
	key, _, err := pc.GenerateSSK(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key.Type, key.Site = crypto.USK, "attacks"
	start := time.Now()
	uri := putSite(t, pc, key, stringFiles(site.Files))
	t.Logf("the attack site, %d files, inserted at node %d in %v", len(site.Files), publisher, time.Since(start).Round(time.Millisecond))

	if tn.Nodes[reader].ProxyAddr() == "" {
		t.Fatalf("node %d serves no browsing proxy", reader)
	}
	proxy := "http://" + tn.Nodes[reader].ProxyAddr()
	start = time.Now()
	v := b.Visit(tabs, proxy, proxy+filter.Path(uri.WithPath("")), site, target)
	t.Logf("node %d, %d links away, served %d pages (%d HTML and %d CSS attacks) in %v; %d requests: %d to the proxy, %d media-control icons of Chromium's own",
		reader, tn.Hops(publisher)[reader], v.Opened, len(filtertest.HTML), len(filtertest.CSS), time.Since(start).Round(time.Millisecond),
		v.Requests, v.ToProxy, v.OwnIcons)

	// Pages of other origins embed and open keys on the proxy: one the user just opened, one
	// never opened, and one nobody inserted (any attempt to fetch it is a request into the
	// network; node 0 may hold the others' blocks in its store, which it reads without one).
	// The node sends no request for them, the tab they navigate asks the user first, and the
	// user's own navigation works.
	fresh := putSite(t, pc, crypto.InsertURI{Type: crypto.CHK}, map[string]string{"index.html": "<p>a page nobody opened</p>"})
	absent := mustParse(t, "CHK@"+keyText.EncodeToString(randomBytes(32, 9))+","+keyText.EncodeToString(randomBytes(32, 10))+",AQABAQA")
	held, never, nowhere := proxy+filter.Path(uri.WithPath("/")), proxy+filter.Path(fresh.WithPath("/")), proxy+filter.Path(absent)
	// Fresh tabs: the visit's may still reload pages of the proxy that refresh themselves.
	tab, user := b.NewTab(), b.NewTab()
	if err := user.Open(held); err != nil {
		t.Fatal(err)
	}
	localRequests := func() uint64 { return tn.Nodes[reader].Status().Routing.LocalRequests }
	before := localRequests()
	landed := b.NewOtherSites([]string{held, never, nowhere}).Visit(tab)
	if n := localRequests() - before; n != 0 {
		t.Errorf("pages of other origins made node %d send %d requests into the network", reader, n)
	}
	if landed[nowhere] != http.StatusOK || !strings.Contains(tab.Text(), "Open this key?") {
		t.Errorf("another origin's navigation to a key: documents %v, the tab shows:\n%s", landed, tab.Text())
	}
	if err := user.Open(never); err != nil || !strings.Contains(user.Text(), "a page nobody opened") {
		t.Errorf("the user's own navigation to the key: %v, the tab shows:\n%s", err, user.Text())
	}
	if err := user.Open(nowhere); err != nil || localRequests() == before {
		t.Errorf("the user's own navigation to a key nobody inserted: %v, %d requests into the network", err, localRequests()-before)
	}

	dirs := []string{t.TempDir()}
	if dir := os.Getenv("LETHE_SCREENSHOTS"); dir != "" {
		dirs = append(dirs, dir)
	}
	for _, p := range tabs[0].ProxyScreenshots(proxy, dirs...) {
		t.Logf("screenshot %s", p)
	}
}

// stringFiles turns a site's files into what putSite takes.
func stringFiles(files map[string][]byte) map[string]string {
	m := make(map[string]string, len(files))
	for name, b := range files {
		m[name] = string(b)
	}
	return m
}
