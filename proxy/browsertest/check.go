package browsertest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CheckInstruments proves the recording on a page that is not filtered: it opens, in tab,
// a page of a plain HTTP server that runs a script, writes to the console and loads an image
// from another origin (a canary), and fails the test unless the record shows all three and
// the canary was reached. Then it forgets what it recorded.
func (b *Browser) CheckInstruments(tab *Tab) {
	b.tb.Helper()
	control := NewCanary(b.tb)
	unfiltered := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// The icon link keeps Chromium from asking this origin for /favicon.ico after the
		// record is reset, which would count as an escape from the proxy.
		io.WriteString(w, `<link rel=icon href="data:,"><script>console.log("control")</script><img src="http://`+control.Addr()+`/x.png">`)
	}))
	defer unfiltered.Close()
	if err := tab.Open(unfiltered.URL + "/"); err != nil {
		b.tb.Fatal(err)
	}
	// The canary hears the image request a moment after the load event.
	deadline := time.Now().Add(5 * time.Second)
	for len(control.Received()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	rec := b.Record()
	if len(rec.Scripts) == 0 || len(rec.Console) == 0 || len(control.Received()) == 0 || !containsPrefix(rec.Requests, "http://"+control.Addr()) {
		b.tb.Fatalf("the instruments missed the control page: %d scripts, %d console messages, canary %v, requests %v",
			len(rec.Scripts), len(rec.Console), control.Received(), rec.Requests)
	}
	b.Reset()
}

// Visit opens in tabs, shared among them, every page and other file of site as served by
// the proxy at proxy ("http://127.0.0.1:8888") under base (the site's root through the
// proxy, proxy + the site key's path, without a trailing slash), and the proxy's own pages.
// Then it fails the test for every sign that a page escaped: a request to anything but the
// proxy, a script compiled, a console message, a policy violation, a frame or worker
// started, a connection to target (the canary the attacks aim at), a page not served. It
// returns what was seen, for the log.
func (b *Browser) Visit(tabs []*Tab, proxy, base string, site Site, target *Canary) Visited {
	b.tb.Helper()
	var urls []string
	for _, page := range append(append([]string(nil), site.Pages...), site.Others...) {
		urls = append(urls, base+page)
	}
	for _, page := range []string{"/", "/insert", "/transfers", "/status", "/external?url=http://" + target.Addr() + "/"} {
		urls = append(urls, proxy+page)
	}
	var opened atomic.Int64
	var wg sync.WaitGroup
	for i, tab := range tabs {
		wg.Go(func() {
			for j := i; j < len(urls); j += len(tabs) {
				if err := tab.Open(urls[j]); err != nil {
					b.tb.Errorf("open %s: %v", urls[j], err)
					continue
				}
				opened.Add(1)
			}
		})
	}
	wg.Wait()
	time.Sleep(500 * time.Millisecond) // anything a page does late

	rec := b.Record()
	origin := proxy + "/"
	var outside []string
	v := Visited{Opened: int(opened.Load()), Requests: len(rec.Requests)}
	for _, u := range rec.Requests {
		switch {
		case strings.HasPrefix(u, origin):
			v.ToProxy++
		case strings.HasPrefix(u, "data:") && !fromAttacks(u):
			// A data: URL reaches no origin. The media controls that Chromium draws for
			// <video> and <audio> load their icons so, under the page's name; the page's own
			// data: URLs (all in the attack inputs) must never be asked for.
			v.OwnIcons++
		default:
			outside = append(outside, u)
		}
	}
	if len(outside) > 0 {
		b.tb.Errorf("the browser asked %d times for something other than the proxy:\n%s", len(outside), strings.Join(outside, "\n"))
	}
	if len(rec.Scripts) > 0 {
		b.tb.Errorf("the browser compiled %d scripts:\n%s", len(rec.Scripts), strings.Join(rec.Scripts, "\n"))
	}
	if len(rec.Console) > 0 {
		b.tb.Errorf("console messages (a script ran):\n%s", strings.Join(rec.Console, "\n"))
	}
	if len(rec.Violations) > 0 {
		b.tb.Errorf("policy violations (the filter let through what the CSP then stopped):\n%s", strings.Join(rec.Violations, "\n"))
	}
	if len(rec.Targets) > 0 {
		b.tb.Errorf("frames or workers were started: %v", rec.Targets)
	}
	if hits := target.Received(); len(hits) > 0 {
		b.tb.Errorf("the canary the attacks aim at was reached %d times: %v", len(hits), hits)
	}
	for _, page := range site.Pages {
		if rec.Documents[base+page] == http.StatusOK {
			v.Served++
		}
	}
	if v.Served != len(site.Pages) || v.Opened != len(urls) {
		b.tb.Errorf("%d of %d pages opened, %d of the %d attack pages served with 200", v.Opened, len(urls), v.Served, len(site.Pages))
	}
	return v
}

// Visited counts what a Visit saw.
type Visited struct {
	Opened   int // pages opened: the site's and the proxy's own
	Served   int // the site's pages served with status 200
	Requests int // requests the browser made
	ToProxy  int // of them, to the proxy
	OwnIcons int // of them, data: URLs of Chromium's own media controls
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
