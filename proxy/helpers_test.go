package proxy

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"html"
	"image"
	"image/png"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"lethe/crypto"
	"lethe/filetest"
	"lethe/insert"
	"lethe/proxy/filter"
)

// TestMain fails the run if goroutines started by the proxy outlive it. (Not while fuzzing:
// the fuzzing engine keeps goroutines of its own.)
func TestMain(m *testing.M) {
	progressWait = 200 * time.Millisecond // the tests hold downloads back on purpose
	before := runtime.NumGoroutine()
	code := m.Run()
	if f := flag.Lookup("test.fuzz"); code == 0 && (f == nil || f.Value.String() == "") {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			fmt.Fprintf(os.Stderr, "leaked goroutines: %d before, %d after\n%s", before, n, buf[:runtime.Stack(buf, true)])
			code = 1
		}
	}
	os.Exit(code)
}

func long() bool { return os.Getenv("LETHE_LONG") != "" }

// testProxy is a proxy serving on loopback from an in-memory block store.
type testProxy struct {
	*Server
	st     *filetest.Store
	url    string // "http://127.0.0.1:port"
	host   string // "127.0.0.1:port"
	client *http.Client
	hook   atomic.Pointer[func(ctx context.Context, rk crypto.RoutingKey) error]
}

// newTestProxy starts a proxy on 127.0.0.1 over a fresh store; cfg's Getter and Putter
// default to the store. The proxy is closed when the test ends, and Serve must then return.
func newTestProxy(tb testing.TB, cfg Config) *testProxy {
	tb.Helper()
	p := &testProxy{st: filetest.NewStore()}
	p.st.OnGet = func(ctx context.Context, rk crypto.RoutingKey, attempt int) error {
		if h := p.hook.Load(); h != nil {
			return (*h)(ctx, rk)
		}
		return nil
	}
	if cfg.Getter == nil {
		cfg.Getter = p.st
	}
	if cfg.Putter == nil {
		cfg.Putter = p.st
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	if cfg.Addr == "" {
		cfg.Addr = ln.Addr().String()
	}
	s, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	p.Server, p.host, p.url = s, ln.Addr().String(), "http://"+ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	jar, _ := cookiejar.New(nil)
	p.client = &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       60 * time.Second,
	}
	tb.Cleanup(func() {
		p.hook.Store(nil)
		s.Close()
		if err := <-served; err != nil {
			tb.Errorf("Serve after Close: %v", err)
		}
		p.client.CloseIdleConnections()
	})
	return p
}

// setHook makes every block request call h first (nil: none).
func (p *testProxy) setHook(h func(ctx context.Context, rk crypto.RoutingKey) error) {
	if h == nil {
		p.hook.Store(nil)
		return
	}
	p.hook.Store(&h)
}

// do sends a request with the given headers ("Name: value"; an empty value removes the
// header) and returns the response with its body read. Requests say they come from the
// proxy's own pages (Sec-Fetch-Site: same-origin) unless the headers say otherwise.
func (p *testProxy) do(tb testing.TB, method, path string, body io.Reader, headers ...string) (*http.Response, string) {
	tb.Helper()
	req, err := http.NewRequest(method, p.url+path, body)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		switch v = strings.TrimSpace(v); {
		case strings.EqualFold(k, "Host"):
			req.Host = v // the client sends req.Host, not a Host header
		case v == "":
			req.Header.Del(k)
		default:
			req.Header.Set(k, v)
		}
	}
	resp, err := p.client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: body: %v", method, path, err)
	}
	return resp, string(b)
}

func (p *testProxy) get(tb testing.TB, path string, headers ...string) (*http.Response, string) {
	tb.Helper()
	return p.do(tb, http.MethodGet, path, nil, headers...)
}

// navigate is how a browser tab asks for a page.
const navigate = "Sec-Fetch-Mode: navigate"

var downloadLink = regexp.MustCompile(`href="([^"]+\?download=[^"]+)"`)

// pastWarning opens path in a tab, expects the warning page shown before a file is saved,
// and returns the page's link to download it anyway.
func (p *testProxy) pastWarning(tb testing.TB, path string) string {
	tb.Helper()
	resp, body := p.get(tb, path, navigate)
	m := downloadLink.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		tb.Fatalf("%s in a tab: %d, want the warning page with a download link\n%s", path, resp.StatusCode, body)
	}
	return html.UnescapeString(m[1])
}

var tokenPattern = regexp.MustCompile(`name="token" value="([^"]+)"`)

// token opens one of the proxy's pages and returns the CSRF token of its forms; the client
// keeps the cookie it is bound to.
func (p *testProxy) token(tb testing.TB) string {
	tb.Helper()
	_, body := p.get(tb, "/")
	m := tokenPattern.FindStringSubmatch(body)
	if m == nil {
		tb.Fatalf("no token in the home page:\n%s", body)
	}
	return m[1]
}

// insertSite inserts files as a site under target.
func insertSite(tb testing.TB, st insert.BlockPutter, target crypto.InsertURI, files map[string][]byte) crypto.RequestURI {
	tb.Helper()
	fsys := fstest.MapFS{}
	for p, b := range files {
		fsys[p] = &fstest.MapFile{Data: b}
	}
	dir, err := insert.DirFS(fsys)
	if err != nil {
		tb.Fatal(err)
	}
	uri, err := insert.Directory(context.Background(), st, target, dir, insert.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	return uri
}

// insertFile inserts one file under a new CHK.
func insertFile(tb testing.TB, st insert.BlockPutter, data []byte, cfg insert.Config) crypto.RequestURI {
	tb.Helper()
	uri, err := insert.File(context.Background(), st, crypto.InsertURI{Type: crypto.CHK}, bytes.NewReader(data), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return uri
}

// newUSK makes a site key from a seed, so that tests repeat.
func newUSK(tb testing.TB, site string, seed uint64) crypto.InsertURI {
	tb.Helper()
	u, err := crypto.GenerateSSKURI(chacha(seed))
	if err != nil {
		tb.Fatal(err)
	}
	u.Type, u.Site, u.Edition = crypto.USK, site, 0
	return u
}

func requestURI(tb testing.TB, u crypto.InsertURI) crypto.RequestURI {
	tb.Helper()
	r, err := u.RequestURI()
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func chacha(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return rand.NewChaCha8(s)
}

// randomBytes is incompressible content, the same for the same seed.
func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	chacha(seed).Read(b)
	return b
}

// pathOf is the proxy path of a URI.
func pathOf(u crypto.RequestURI) string { return filter.Path(u) }

// clock is a test clock that moves only when told.
type clock struct{ t atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.t.Store(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) now() time.Time          { return time.Unix(0, c.t.Load()).UTC() }
func (c *clock) advance(d time.Duration) { c.t.Add(int64(d)) }

// pngImage is a small valid PNG.
func pngImage(tb testing.TB) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}
