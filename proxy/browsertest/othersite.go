package browsertest

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"
)

// OtherSites are web pages on origins other than the proxy's that try to use it, as any page
// on the internet could (docs/spec.md §20.2, "Other sites"): one on another port of
// 127.0.0.1 (same site as the proxy, another origin) and one reached as localhost (another
// site). Each embeds every key it is given in every way a page can — image, stylesheet,
// script, frame, audio, video, object, fetch() with and without CORS — and then navigates
// its tab to the last key, top level, without the user.
type OtherSites struct {
	b     *Browser
	pages []string // URLs of the hostile pages
}

// NewOtherSites starts the servers for keys (full URLs on the proxy) until the test ends.
func (b *Browser) NewOtherSites(keys []string) *OtherSites {
	b.tb.Helper()
	if len(keys) == 0 {
		b.tb.Fatal("browsertest: no keys for the other sites to use")
	}
	var page strings.Builder
	page.WriteString(`<!DOCTYPE html><title>another site</title><link rel=icon href="data:,">`)
	for _, k := range keys {
		q := html.EscapeString(k)
		fmt.Fprintf(&page, `<img src="%s"><link rel=stylesheet href="%s"><script src="%s"></script>`+
			`<iframe src="%s"></iframe><audio src="%s" preload=auto></audio><video src="%s" preload=auto></video>`+
			`<object data="%s"></object>`, q, q, q, q, q, q, q)
	}
	js, _ := json.Marshal(keys)
	fmt.Fprintf(&page, `<script>
const keys = %s;
for (const k of keys) { fetch(k, {mode: "no-cors"}).catch(() => {}); fetch(k).catch(() => {}); }
addEventListener("load", () => setTimeout(() => { location.href = keys[keys.length - 1]; }, 300));
</script>`, js)
	body := page.String()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, body)
	}))
	b.tb.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return &OtherSites{b: b, pages: []string{srv.URL + "/", "http://localhost:" + port + "/"}}
}

// Visit opens each hostile page in tab and waits until it has navigated the tab to its last
// key and that page has loaded. It returns the documents the tab ended on, by URL, with their
// status: the proxy's answer to another site's navigation.
func (o *OtherSites) Visit(tab *Tab) map[string]int {
	o.b.tb.Helper()
	landed := map[string]int{}
	for _, page := range o.pages {
		o.b.Reset()
		if err := tab.Open(page); err != nil {
			o.b.tb.Fatalf("the other site's page: %v", err)
		}
		if err := tab.waitLoad(); err != nil { // the page's own navigation to a key
			rec := o.b.Record()
			o.b.tb.Fatalf("%s did not navigate its tab to the key (%v); documents %v, console %v",
				page, err, rec.Documents, rec.Console)
		}
		time.Sleep(200 * time.Millisecond) // whatever the page still does
		for u, status := range o.b.Record().Documents {
			if u != page {
				landed[u] = status
			}
		}
	}
	return landed
}

// Text returns the text of the tab's page, as the user reads it.
func (t *Tab) Text() string {
	t.b.tb.Helper()
	var res struct {
		Result struct{ Value string } `json:"result"`
	}
	t.call("Runtime.evaluate", map[string]any{"expression": "document.body ? document.body.innerText : ''", "returnByValue": true}, &res)
	return res.Result.Value
}

// Click clicks, as the user would, the first link of the tab's page whose text is text, and
// waits for the page it opens to load.
func (t *Tab) Click(text string) error {
	t.b.tb.Helper()
	for len(t.loaded) > 0 {
		<-t.loaded
	}
	js, _ := json.Marshal(text)
	var res struct {
		Result struct{ Value bool } `json:"result"`
	}
	t.call("Runtime.evaluate", map[string]any{"expression": fmt.Sprintf(
		`(() => { const a = [...document.querySelectorAll("a")].find(a => a.textContent.trim() === %s); if (!a) return false; a.click(); return true; })()`, js),
		"returnByValue": true, "userGesture": true}, &res)
	if !res.Result.Value {
		return fmt.Errorf("no link %q on the page", text)
	}
	if err := t.waitLoad(); err != nil {
		return fmt.Errorf("link %q: %w", text, err)
	}
	return nil
}
