package proxy

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lethe/insert"
	"lethe/private"
)

// TestHostCheck: a request that names another host — a page whose DNS name was rebound to
// 127.0.0.1 — is refused with a page that does not say what answers here; the proxy's own
// names are accepted.
func TestHostCheck(t *testing.T) {
	p := newTestProxy(t, Config{})
	uri := insertFile(t, p.st, []byte("secret"), insert.Config{Name: "s.txt"})
	_, port, _ := net.SplitHostPort(p.host)
	for _, host := range []string{"evil.example", "evil.example:" + port, "127.0.0.1:1", "localhost.evil.example:" + port, "10.0.0.1:" + port} {
		for _, path := range []string{"/", pathOf(uri), "/status"} {
			resp, body := p.get(t, path, "Host: "+host)
			if resp.StatusCode != http.StatusForbidden || strings.Contains(body, "secret") || strings.Contains(strings.ToLower(body), "lethe") {
				t.Errorf("Host %s, %s: %d\n%s", host, path, resp.StatusCode, body)
			}
			if resp.Header.Get("Set-Cookie") != "" {
				t.Errorf("Host %s: a refused request got a cookie", host)
			}
		}
	}
	for _, host := range []string{p.host, "localhost:" + port, "LOCALHOST:" + port, "[::1]:" + port} {
		if resp, body := p.get(t, pathOf(uri), "Host: "+host); resp.StatusCode != http.StatusOK || body != "secret" {
			t.Errorf("Host %s: %d %q", host, resp.StatusCode, body)
		}
	}
}

// TestConfiguredAddr: the Host check follows Config.Addr, whatever the listener.
func TestConfiguredAddr(t *testing.T) {
	p := newTestProxy(t, Config{Addr: "127.0.0.1:8888"})
	for host, want := range map[string]int{
		"127.0.0.1:8888": http.StatusOK,
		"localhost:8888": http.StatusOK,
		p.host:           http.StatusOK, // the listener Serve was given
		"127.0.0.1:8889": http.StatusForbidden,
	} {
		if resp, _ := p.get(t, "/", "Host: "+host); resp.StatusCode != want {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, want)
		}
	}
}

// TestCSRF: a form post is acted on only with the token of the browser's own cookie, and
// never when another site sent it.
func TestCSRF(t *testing.T) {
	p := newTestProxy(t, Config{})
	site := requestURI(t, newUSK(t, "blog", 3))
	token := p.token(t)
	post := func(form url.Values, headers ...string) *http.Response {
		t.Helper()
		headers = append(headers, "Content-Type: application/x-www-form-urlencoded")
		resp, _ := p.do(t, http.MethodPost, "/bookmarks", strings.NewReader(form.Encode()), headers...)
		return resp
	}
	form := func(tok string) url.Values {
		return url.Values{"token": {tok}, "uri": {site.String()}, "title": {"Blog"}}
	}

	other := newTestProxy(t, Config{}) // another proxy's token: right shape, wrong key
	for name, resp := range map[string]*http.Response{
		"no token":              post(url.Values{"uri": {site.String()}}),
		"wrong token":           post(form(token[:len(token)-2] + "AA")),
		"another proxy's token": post(form(other.token(t))),
		"cross-site":            post(form(token), "Sec-Fetch-Site: cross-site"),
		"same-site":             post(form(token), "Sec-Fetch-Site: same-site"),
		"other origin":          post(form(token), "Origin: http://evil.example"),
	} {
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, resp.StatusCode)
		}
	}
	if len(p.marks.list()) != 0 {
		t.Fatal("a refused post added a bookmark")
	}
	// Without the cookie the token means nothing.
	bare := &http.Client{CheckRedirect: p.client.CheckRedirect}
	req, _ := http.NewRequest(http.MethodPost, p.url+"/bookmarks", strings.NewReader(form(token).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := bare.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("token without its cookie: %d", resp.StatusCode)
	}

	if resp := post(form(token), "Origin: "+p.url, "Sec-Fetch-Site: same-origin"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the proxy's own form: %d", resp.StatusCode)
	}
	if m := p.marks.list(); len(m) != 1 || m[0].Title != "Blog" {
		t.Errorf("bookmarks after the post: %+v", m)
	}
}

// TestCookie: the browser's secret is HttpOnly and SameSite=Strict, and tokens survive a
// restart when the proxy has a state directory.
func TestCookie(t *testing.T) {
	dir := t.TempDir()
	p := newTestProxy(t, Config{StateDir: dir})
	resp, _ := p.get(t, "/")
	c := resp.Cookies()
	if len(c) != 1 || c[0].Name != csrfCookie || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode || c[0].Path != "/" {
		t.Fatalf("cookie %+v", c)
	}
	secret := c[0].Value
	tok := p.guard.csrfToken(secret)
	p.Close()
	again, err := New(Config{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.guard.csrfToken(secret) != tok {
		t.Error("the token changed across a restart")
	}
}

// TestOwnPages: the proxy's pages carry a policy that allows no script, and hold none.
func TestOwnPages(t *testing.T) {
	p := newTestProxy(t, Config{Status: sampleStatus})
	for _, path := range []string{"/", "/insert", "/transfers", "/status", "/external?url=javascript:alert(1)", "/nope"} {
		resp, body := p.get(t, path)
		h := resp.Header
		if h.Get("Content-Security-Policy") != pageCSP || h.Get("X-Frame-Options") != "DENY" ||
			h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", path, h)
		}
		if strings.Contains(strings.ToLower(body), "<script") || strings.Contains(body, " on") && strings.Contains(body, "=\"alert") {
			t.Errorf("%s holds script:\n%s", path, body)
		}
	}
	_, body := p.get(t, "/external?url="+url.QueryEscape(`http://example.com/"><b>x`))
	if !strings.Contains(body, "http://example.com/&#34;&gt;&lt;b&gt;x") || strings.Contains(body, `href="http://example.com`) {
		t.Errorf("the external page must show the address as text, escaped:\n%s", body)
	}
}

// Issue 16, finding 6: the proxy's key is refused while other users may read it (whoever
// read it can make the tokens of every form), as the node's identity file is.
func TestKeyFilePermissions(t *testing.T) {
	dir := t.TempDir()
	s, err := New(Config{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.Chmod(filepath.Join(dir, keyFile), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{StateDir: dir}); !errors.Is(err, private.ErrSecretPermissions) {
		t.Fatalf("a proxy key of mode 0640: %v, want ErrSecretPermissions", err)
	}
}
