package proxy

import (
	"crypto/hmac"
	"io"
	"net/http"
	"net/url"
	"strings"

	"lethe/proxy/filter"
)

// Who may make the proxy fetch something (spec §20.2, "Other sites"). A web page on any other
// site could otherwise embed <img src="http://127.0.0.1:8888/CHK@…">: the node would fetch a
// key of that site's choosing, and the time the image took to fail would tell the site
// whether the user had opened that key lately (it is in the proxy's memory) and that a node
// runs here at all. So the proxy serves content only to its own pages and to its user, and
// decides who asks before it looks anything up, so that a refusal takes the same time
// whatever the proxy holds.

// asker is who made a request, as the browser's fetch metadata (Sec-Fetch-Site,
// Sec-Fetch-Mode, Sec-Fetch-Dest, which no page can set or change) and Origin tell.
type asker int

const (
	// askerOwn: one of the proxy's own pages or a page it served (same origin), or the user
	// (an address typed, a bookmark: Sec-Fetch-Site: none).
	askerOwn asker = iota
	// askerOtherTab: another origin (another site, or another port of this machine) opening
	// a page of the proxy in a tab, top level: a link followed or a script's navigation.
	askerOtherTab
	// askerOther: another origin's image, stylesheet, script, fetch, frame or form.
	askerOther
	// askerUnknown: no fetch metadata, from a browser too old to send it, or a program.
	askerUnknown
)

// askerOf reads who made r.
func askerOf(r *http.Request) asker {
	site := r.Header.Get("Sec-Fetch-Site")
	switch site {
	case "same-origin", "none":
		return askerOwn
	case "same-site", "cross-site":
		mode, dest := r.Header.Get("Sec-Fetch-Mode"), r.Header.Get("Sec-Fetch-Dest")
		if mode == "navigate" && (dest == "document" || dest == "") {
			return askerOtherTab
		}
		return askerOther
	case "":
		if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
			return askerOther
		}
		return askerUnknown
	}
	return askerOther // a value browsers do not send
}

// opensInTab reports whether r would show its answer in a tab, or save it as a file, rather
// than hand it to a page (an image, a stylesheet, a media element). Without fetch metadata it
// is assumed to, which is the strict answer wherever it matters.
func opensInTab(r *http.Request) bool {
	if r.Header.Get("Sec-Fetch-Site") == "" {
		return true
	}
	return r.Header.Get("Sec-Fetch-Mode") == "navigate"
}

// admitKey decides whether a request for a key path may go on to look the key up. It
// answers (with a refusal or the page that asks the user first) and returns false
// otherwise; it does no lookup of any kind, so its answers take the same time whatever the
// proxy holds.
//
//   - the proxy's own pages and the user: go on;
//   - another origin opening the key in a tab: the page "Open this key?", whose link carries
//     a token bound to the browser's cookie and the path;
//   - another origin's subresource, frame or fetch: refused (403);
//   - no fetch metadata: go on only with that token; else the page that asks if the request
//     looks like a tab's (Accept names HTML), a refusal if not. Such a browser then sees the
//     pages it opened without their images: the strict path.
func (s *Server) admitKey(w http.ResponseWriter, r *http.Request) bool {
	switch askerOf(r) {
	case askerOwn:
		return true
	case askerOther:
		refuseOther(w)
		return false
	case askerUnknown:
		if s.guard.checkOpen(r) {
			return true
		}
		if !strings.Contains(r.Header.Get("Accept"), "text/html") {
			refuseOther(w)
			return false
		}
	}
	s.askFirst(w, r)
	return false
}

// refusedOther is the answer to another origin's subresource request. No page of another
// origin can read it (no CORS, Cross-Origin-Resource-Policy); it speaks to the person who
// runs a program against the proxy.
const refusedOther = "Refused: this proxy serves content only to its own pages and to its user.\n" +
	"A program acting for the user says so with the header Sec-Fetch-Site: none.\n"

func refuseOther(w http.ResponseWriter) {
	ownHeaders(w.Header())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusForbidden)
	io.WriteString(w, refusedOther)
}

// askFirst is the page shown for a key that another site sent the browser to: it says so and
// lets the user open the key, or not.
func (s *Server) askFirst(w http.ResponseWriter, r *http.Request) {
	uri, err := parseKeyPath(r.URL.Path)
	if err != nil {
		refuseOther(w) // nothing to open
		return
	}
	secret := s.guard.browser(w, r)
	// The link goes to the key's canonical path, which is what the token is bound to.
	open := filter.Path(uri) + "?" + openParam + "=" + url.QueryEscape(s.guard.openToken(secret, "/"+uri.String()))
	s.render(w, r, http.StatusOK, "ask.html", view{Title: "Open this key?", Token: s.guard.csrfToken(secret), Data: struct {
		URI, Open string
	}{uri.String(), open}})
}

// openParam is the query parameter of the token on the page that asks first.
const openParam = "open"

// openToken confirms that the user chose to open a key another site sent the browser to. It
// is bound to the browser's secret cookie (SameSite=Strict: another site's request does not
// carry it) and to the path.
func (g *guard) openToken(secret, path string) string {
	return g.mac(openLabel, secret+"\x00"+path)
}

// checkOpen reports whether r carries a valid open token for its path and browser.
func (g *guard) checkOpen(r *http.Request) bool {
	token := r.URL.Query().Get(openParam)
	c, err := r.Cookie(csrfCookie)
	if token == "" || err != nil || !validSecret(c.Value) {
		return false
	}
	return hmac.Equal([]byte(token), []byte(g.openToken(c.Value, r.URL.Path)))
}
