package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"lethe/crypto"
	"lethe/insert"
)

// syncBuffer is a log the proxy's goroutines write to together.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Issue 16, finding 5: nothing the proxy logs, at any level, names what its user opened:
// not the URI (which holds the key that decrypts it), not a site's or a file's name, not
// the reason an error gives in words that name them, nor the routing key of a URI. Before, a
// page that stopped part-way logged its URI at INFO, the search for a site's editions its URI
// at DEBUG, and the fetches the proxy runs each block's routing key.
func TestLogNamesNothing(t *testing.T) {
	var log syncBuffer
	p := newTestProxy(t, Config{Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	usk := newUSK(t, "holiday-photos", 3)
	site := insertSite(t, p.st, usk, map[string][]byte{"index.html": []byte("<p>home</p>"), "beach-party.html": []byte("<p>the beach</p>")})
	f := newBigFile(t, p, "private-diary.txt", 9<<20, 3)

	// A page that stops part-way: the last segment fails after the first bytes are sent.
	last := map[crypto.RoutingKey]bool{}
	for _, rk := range f.segs[len(f.segs)-1] {
		last[rk] = true
	}
	errBroken := errors.New("storage broke")
	p.setHook(func(ctx context.Context, rk crypto.RoutingKey) error {
		if last[rk] {
			return errBroken
		}
		return nil
	})
	req, _ := http.NewRequest(http.MethodGet, p.url+pathOf(f.uri), nil)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if resp, err := p.client.Do(req); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// A fetch that fails (its error names the key's routing key, and fetch logs each try).
	odd := insertFile(t, p.st, []byte("<p>never served</p>"), insert.Config{Name: "secret-plans.html"})
	p.setHook(func(ctx context.Context, rk crypto.RoutingKey) error { return errBroken })
	p.get(t, pathOf(odd), userTab...)
	// A site's newest edition searched for in vain; a request for another host.
	p.get(t, pathOf(requestURI(t, usk.WithEdition(0)).WithPath("/beach-party.html")), userTab...)
	p.get(t, pathOf(site.WithPath("/beach-party.html")), "Host: evil.example")
	p.setHook(nil)
	p.Close()

	got := log.String()
	if !strings.Contains(got, "stopped part-way") || !strings.Contains(got, "edition search") || !strings.Contains(got, "block failed") {
		t.Fatalf("the failures were not logged at all:\n%s", got)
	}
	for _, u := range []crypto.RequestURI{site, f.uri, odd} {
		for _, needle := range append([]string{u.String(), u.WithPath("").String()}, keyTexts(u)...) {
			if strings.Contains(got, needle) {
				t.Errorf("the log holds %q", needle)
			}
		}
	}
	for _, name := range []string{"holiday-photos", "beach-party", "private-diary", "secret-plans"} {
		if strings.Contains(got, name) {
			t.Errorf("the log names %q", name)
		}
	}
	if t.Failed() {
		t.Logf("the log:\n%s", got)
	}
}

// keyTexts are the keys in a URI's text: the routing key or public-key hash, and the crypto
// key.
func keyTexts(u crypto.RequestURI) []string {
	_, rest, _ := strings.Cut(u.String(), "@")
	keys := strings.Split(rest, ",")
	return keys[:2]
}
