package proxy

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"lethe/private"
)

// The proxy's own defences (spec §20.2).
const (
	// csrfCookie holds the browser's secret: 32 random bytes in base64url. It is HttpOnly (no
	// page can read it) and SameSite=Strict (no other site's request carries it).
	csrfCookie = "lethe-browser"
	// Labels of the tokens derived from the proxy's key (HMAC-SHA256, spec §20.2).
	csrfLabel     = "lethe/v1/proxy-csrf"
	downloadLabel = "lethe/v1/proxy-download"
	openLabel     = "lethe/v1/proxy-open"
	keyFile       = "proxy.key"
)

// errForbidden is why a request is refused by the proxy's defences; the wrapping error says
// which.
var errForbidden = errors.New("request refused")

// guard holds the proxy's defences: the host names it answers to and the key its tokens
// derive from.
type guard struct {
	key [32]byte // HMAC key of the CSRF and download tokens; read-only after newGuard

	mu    sync.Mutex
	hosts map[string]bool // Host header values accepted, lower case; guarded by mu
}

// newGuard accepts addr (and localhost on its port) as the proxy's host and reads its key
// from stateDir, making one if there is none. Without a state directory the key lives in
// memory: tokens in pages opened before a restart stop working, and that is all.
func newGuard(addr, stateDir string) (*guard, error) {
	g := &guard{hosts: map[string]bool{}}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("proxy: address %q: %w", addr, err)
	}
	g.allow(addr)
	if stateDir == "" {
		rand.Read(g.key[:])
		return g, nil
	}
	path := filepath.Join(stateDir, keyFile)
	b, err := private.ReadSecretFile(path, len(g.key))
	switch {
	case err == nil && len(b) == len(g.key):
		copy(g.key[:], b)
		return g, nil
	case err == nil:
		return nil, fmt.Errorf("proxy: %s holds %d bytes, want %d (delete it to make a new key)", path, len(b), len(g.key))
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("proxy: read key: %w", err)
	}
	rand.Read(g.key[:])
	if err := writeFileAtomic(path, g.key[:]); err != nil {
		return nil, fmt.Errorf("proxy: write key: %w", err)
	}
	return g, nil
}

// allow accepts addr as the proxy's host, and for a loopback address also localhost and
// the other loopback spellings on the same port.
func (g *guard) allow(addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.hosts[strings.ToLower(net.JoinHostPort(host, port))] = true
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
			g.hosts[net.JoinHostPort(h, port)] = true
		}
	}
	if port == "80" {
		g.hosts[strings.ToLower(host)] = true
		if strings.Contains(host, ":") {
			g.hosts["["+strings.ToLower(host)+"]"] = true
		}
	}
}

// checkHost refuses a request whose Host header is not the proxy's own. A page on another
// site that rebinds its DNS name to 127.0.0.1 reaches the proxy with its own name as Host,
// and gets nothing.
func (g *guard) checkHost(r *http.Request) error {
	g.mu.Lock()
	ok := g.hosts[strings.ToLower(r.Host)]
	g.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: the proxy is not reached as %q", errForbidden, r.Host)
	}
	return nil
}

// browser returns the browser's secret from its cookie, setting a new one on w if it has
// none.
func (g *guard) browser(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && validSecret(c.Value) {
		return c.Value
	}
	var b [32]byte
	rand.Read(b[:])
	v := base64.RawURLEncoding.EncodeToString(b[:])
	http.SetCookie(w, &http.Cookie{
		Name: csrfCookie, Value: v, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
	return v
}

func validSecret(v string) bool {
	b, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil && len(b) == 32
}

// csrfToken is the token the proxy's forms carry for a browser: it is bound to the browser's
// secret, which no other site can read, and to the proxy's key, so that a site that manages
// to set the cookie (cookies do not keep ports apart) still cannot make a matching token.
func (g *guard) csrfToken(secret string) string {
	return g.mac(csrfLabel, secret)
}

// checkPost refuses a state-changing request that does not carry the token of the browser
// that sent it, or that another site's page made.
func (g *guard) checkPost(r *http.Request, token string) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return fmt.Errorf("%w: a request from another site (%s)", errForbidden, site)
	}
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
		return fmt.Errorf("%w: a request from another origin", errForbidden)
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || !validSecret(c.Value) {
		return fmt.Errorf("%w: the browser sent no proxy cookie", errForbidden)
	}
	if !hmac.Equal([]byte(token), []byte(g.csrfToken(c.Value))) {
		return fmt.Errorf("%w: the form's token does not match this browser", errForbidden)
	}
	return nil
}

// downloadToken confirms that the user asked for a file the filter would not show (spec
// §17.1 "warn"): the warning page links to the file with it. Pages cannot make such a link,
// since the filter drops queries from links, but the token keeps that from being the only
// defence.
func (g *guard) downloadToken(path string) string {
	return g.mac(downloadLabel, path)
}

func (g *guard) checkDownload(path, token string) bool {
	return token != "" && hmac.Equal([]byte(token), []byte(g.downloadToken(path)))
}

func (g *guard) mac(label, msg string) string {
	m := hmac.New(sha256.New, g.key[:])
	m.Write([]byte(label))
	m.Write([]byte{0})
	m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// pageCSP is the policy of the proxy's own pages: nothing but the proxy's stylesheet and
// images, no script of any kind, forms only to the proxy.
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// ownHeaders sets the headers of the proxy's own pages.
func ownHeaders(h http.Header) {
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// writeFileAtomic writes a file readable by its owner only, through a temporary file and a
// rename, so that a crash leaves the old file or the new one.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
