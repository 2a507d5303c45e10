package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/proxy/filter/filtertest"
)

// canary is a TCP listener that attack pages aim at: any connection to it means a page made
// the browser reach outside the proxy.
type canary struct {
	ln   net.Listener
	mu   sync.Mutex
	hits []string // the first line each connection sent; guarded by mu
	done chan struct{}
}

func newCanary(tb testing.TB) *canary {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	c := &canary{ln: ln, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.SetReadDeadline(time.Now().Add(time.Second))
			buf := make([]byte, 512)
			n, _ := conn.Read(buf)
			line, _, _ := strings.Cut(string(buf[:n]), "\n")
			conn.Close()
			c.mu.Lock()
			c.hits = append(c.hits, fmt.Sprintf("%q", line))
			c.mu.Unlock()
		}
	}()
	tb.Cleanup(func() { ln.Close(); <-c.done })
	return c
}

func (c *canary) addr() string { return c.ln.Addr().String() }

func (c *canary) received() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.hits...)
}

// attackSite is a site made of every attack input of the content filter, plus attacks on the
// proxy itself, aimed at the canary instead of an outside host; pages lists the paths inside
// the site that a browser opens.
func attackSite(tb testing.TB, target string, keyPath string) (files map[string][]byte, pages []string) {
	tb.Helper()
	aim := func(s string) string {
		s = strings.ReplaceAll(s, filtertest.Host, target)
		return strings.ReplaceAll(s, filtertest.Key, keyPath)
	}
	files = map[string][]byte{}
	var index strings.Builder
	index.WriteString("<!DOCTYPE html><title>Attacks</title><h1>Attacks on the filter</h1><ul>\n")
	add := func(name, title, body string) {
		files[name] = []byte(body)
		pages = append(pages, "/"+name)
		fmt.Fprintf(&index, "<li><a href=%q>%s</a>\n", name, title)
	}
	for i, a := range filtertest.HTML {
		add(fmt.Sprintf("html/%03d.html", i), a.Name,
			fmt.Sprintf("<!DOCTYPE html><html><head><title>%s</title></head><body><p>%s</p>\n%s\n</body></html>", a.Name, a.Name, aim(a.Input)))
	}
	// Each stylesheet attack three ways — a linked stylesheet, a <style> element and a style
	// attribute — several attacks to a page: every stylesheet and element is parsed on its
	// own, so one attack cannot hide the next as an unclosed <script> would in a page.
	const perPage = 8
	for first := 0; first < len(filtertest.CSS); first += perPage {
		var page strings.Builder
		page.WriteString("<!DOCTYPE html><title>stylesheets</title><a href=x>link</a>\n")
		for i := first; i < min(first+perPage, len(filtertest.CSS)); i++ {
			a := filtertest.CSS[i]
			in := aim(a.Input)
			files[fmt.Sprintf("css/%03d.css", i)] = []byte(in)
			fmt.Fprintf(&page, "<link rel=stylesheet href=\"%03d.css\"><style>%s</style><p style='%s'>%s</p>\n",
				i, in, strings.ReplaceAll(in, "'", ""), a.Name)
		}
		add(fmt.Sprintf("css/%03d.html", first), fmt.Sprintf("stylesheet attacks %d–%d", first, min(first+perPage, len(filtertest.CSS))-1), page.String())
	}
	// Attacks on the proxy rather than the filter: its own pages as resources and form
	// targets, hints that open connections without a request, files that are not what they
	// claim.
	extra := map[string]string{
		"proxy-form":    `<form action="/insert" method=post enctype="multipart/form-data"><input name=token value=x><input type=file name=file><button>go</button></form><form action="/bookmarks" method=post><input name=uri value="USK@x"></form>`,
		"proxy-pages":   `<img src="/status"><img src="/transfers"><link rel=stylesheet href="/static/style.css"><img src="/external?url=http://` + target + `/">`,
		"connect-hints": `<link rel=preconnect href="http://` + target + `/"><link rel=prefetch href="http://` + target + `/p"><link rel=prerender href="http://` + target + `/r"><link rel=modulepreload href="http://` + target + `/m.js"><link rel=preload as=script href="//` + target + `/s.js">`,
		"fake-files":    `<img src="fake.png"><img src="evil.svg"><object data="evil.svg"></object><embed src="evil.svg"><iframe src="evil.svg"></iframe><video src="film.webm" autoplay></video><img src="html-as-text.txt">`,
		"external-link": `<a href="http://` + target + `/">out</a> <a href="/external?url=http://` + target + `/">through the warning page</a>`,
		"refresh":       `<meta http-equiv="refresh" content="0; url=http://` + target + `/"><meta http-equiv=refresh content="0;URL='javascript:alert(1)'">`,
	}
	for name, body := range extra {
		add("proxy/"+name+".html", name, "<!DOCTYPE html><p>"+name+"</p>"+body)
	}
	files["fake.png"] = []byte("<html><script>alert(1)</script><img src=http://" + target + "/></html>")
	files["evil.svg"] = []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script><image href="http://` + target + `/i.png"/></svg>`)
	files["film.webm"] = []byte("not a film <script>alert(1)</script>")
	files["html-as-text.txt"] = []byte("<script>alert(1)</script><img src=http://" + target + "/>")
	// Opening the files that are not pages shows them as text, a warning or an error, never
	// as markup.
	pages = append(pages, "/fake.png", "/evil.svg", "/html-as-text.txt")
	index.WriteString("</ul>")
	files["index.html"] = []byte(index.String())
	pages = append([]string{"/"}, pages...)
	return files, pages
}

// TestBrowser serves a site full of attacks through the proxy to a real Chromium, opens every
// page, and checks from DevTools that the browser asked nothing of any origin but the proxy,
// compiled no script and broke no policy, and that canary servers the attacks aim at were
// never reached. It first proves its instruments on an unfiltered page that does all of
// that. It takes screenshots of the home and status pages.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser test runs headless Chromium; not in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := newBrowser(t, ctx)
	tabs := []*tab{b.newTab(), b.newTab()} // two at a time: the machine has two cores
	target, control := newCanary(t), newCanary(t)

	// The instruments see a script, a console message and a request to another origin.
	unfiltered := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<script>console.log("control")</script><img src="http://`+control.addr()+`/x.png">`)
	}))
	defer unfiltered.Close()
	if err := tabs[0].open(unfiltered.URL + "/"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	ctl := b.rec.snapshot()
	if len(ctl.scripts) == 0 || len(ctl.console) == 0 || len(control.received()) == 0 || !containsPrefix(ctl.requests, "http://"+control.addr()) {
		t.Fatalf("the instruments missed the control page: %d scripts, %d console messages, canary %v, requests %v",
			len(ctl.scripts), len(ctl.console), control.received(), ctl.requests)
	}
	b.rec.reset()

	p := newTestProxy(t, Config{Status: func() Status { return sampleStatusAt(time.Now()) }})
	key := insertSite(t, p.st, crypto.InsertURI{Type: crypto.CHK}, map[string][]byte{"x.png": pngImage(t), "b.png": pngImage(t)})
	files, pages := attackSite(t, target.addr(), key.String())
	site := insertSite(t, p.st, newUSK(t, "attacks", 7), files)
	base := p.url + pathOf(site.WithPath(""))
	var urls []string
	for _, page := range pages {
		urls = append(urls, base+page)
	}
	for _, page := range []string{"/", "/insert", "/transfers", "/status", "/external?url=http://" + target.addr() + "/"} {
		urls = append(urls, p.url+page)
	}
	var opened atomic.Int64
	var wg sync.WaitGroup
	for i, tab := range tabs {
		wg.Go(func() {
			for j := i; j < len(urls); j += len(tabs) {
				if err := tab.open(urls[j]); err != nil {
					t.Errorf("open %s: %v", urls[j], err)
					continue
				}
				opened.Add(1)
			}
		})
	}
	wg.Wait()
	time.Sleep(500 * time.Millisecond) // anything a page does late

	rec := b.rec.snapshot()
	origin := p.url + "/"
	var outside []string
	own := 0 // data: images of Chromium's own media controls
	for _, u := range rec.requests {
		switch {
		case strings.HasPrefix(u, origin):
		case strings.HasPrefix(u, "data:") && !fromAttacks(u):
			// A data: URL reaches no origin. The media controls that Chromium draws for
			// <video> and <audio> load their icons so, under the page's name; the page's own
			// data: URLs (all in the attack inputs) must never be asked for.
			own++
		default:
			outside = append(outside, u)
		}
	}
	if len(outside) > 0 {
		t.Errorf("the browser asked %d times for something other than the proxy:\n%s", len(outside), strings.Join(outside, "\n"))
	}
	if len(rec.scripts) > 0 {
		t.Errorf("the browser compiled %d scripts:\n%s", len(rec.scripts), strings.Join(rec.scripts, "\n"))
	}
	if len(rec.console) > 0 {
		t.Errorf("console messages (a script ran):\n%s", strings.Join(rec.console, "\n"))
	}
	if len(rec.violations) > 0 {
		t.Errorf("policy violations (the filter let through what the CSP then stopped):\n%s", strings.Join(rec.violations, "\n"))
	}
	if len(rec.targets) > 0 {
		t.Errorf("frames or workers were started: %v", rec.targets)
	}
	if hits := target.received(); len(hits) > 0 {
		t.Errorf("the canary the attacks aim at was reached %d times: %v", len(hits), hits)
	}
	var served int
	for _, page := range pages[:len(pages)-3] {
		if rec.documents[base+page] == http.StatusOK {
			served++
		}
	}
	if served != len(pages)-3 || int(opened.Load()) != len(urls) {
		t.Errorf("%d of %d pages opened, %d of the %d attack pages served with 200", opened.Load(), len(urls), served, len(pages)-3)
	}
	t.Logf("%d pages opened (%d HTML and %d CSS attacks), %d requests: %d to the proxy, %d media-control icons of Chromium's own",
		opened.Load(), len(filtertest.HTML), len(filtertest.CSS), len(rec.requests), len(rec.requests)-own-len(outside), own)

	// Screenshots of the home and status pages, for people to look at.
	dir := t.TempDir()
	for _, page := range []string{"home", "status"} {
		path := "/"
		if page != "home" {
			path = "/" + page
		}
		if err := tabs[0].open(p.url + path); err != nil {
			t.Fatal(err)
		}
		shot := filepath.Join(dir, page+".png")
		tabs[0].screenshot(shot)
		if os.Getenv("LETHE_SCREENSHOTS") != "" {
			copyFile(t, shot, filepath.Join("..", "docs", "screenshots", "proxy-"+page+".png"))
		}
	}
}

// fromAttacks reports whether a data: URL is one that the attack inputs hold.
func fromAttacks(u string) bool {
	for _, a := range append(append([]filtertest.Attack(nil), filtertest.HTML...), filtertest.CSS...) {
		for rest := a.Input; ; {
			i := strings.Index(strings.ToLower(rest), "data:")
			if i < 0 {
				break
			}
			rest = rest[i:]
			end := strings.IndexAny(rest, "\"') >")
			if end < 0 {
				end = len(rest)
			}
			if strings.HasPrefix(u, rest[:end]) {
				return true
			}
			rest = rest[5:]
		}
	}
	return false
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

func copyFile(tb testing.TB, from, to string) {
	tb.Helper()
	b, err := os.ReadFile(from)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(to), 0o755)
	}
	if err == nil {
		err = os.WriteFile(to, b, 0o644)
	}
	if err != nil {
		tb.Fatal(err)
	}
}
