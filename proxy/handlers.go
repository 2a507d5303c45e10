package proxy

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"

	"lethe/crypto"
	"lethe/metadata"
	"lethe/proxy/filter"
)

// maxForm bounds the body of the proxy's ordinary (not multipart) forms.
const maxForm = 64 << 10

// serveHTTP is the proxy's front door: the Host check first, then the page or key asked for.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.begin() {
		http.Error(w, "proxy: closed", http.StatusServiceUnavailable)
		return
	}
	defer s.wg.Done()
	if err := s.guard.checkHost(r); err != nil {
		s.log.Debug("proxy: refused a request for another host") // its path may name a key
		refuseHost(w)
		return
	}
	p := r.URL.Path
	if r.Method != http.MethodPost && askerOf(r) == askerOther {
		refuseOther(w) // another origin's image, script, fetch or frame: nothing is served
		return
	}
	if r.Method == http.MethodPost {
		s.servePost(w, r, p)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD, POST")
		s.errorPage(w, r, http.StatusMethodNotAllowed, "Method not allowed", "The proxy answers GET, HEAD and the POSTs of its own forms.", r.Method)
		return
	}
	switch {
	case p == "/":
		s.home(w, r)
	case p == "/open":
		s.open(w, r)
	case p == "/insert":
		s.insertForm(w, r)
	case p == "/search":
		s.searchPage(w, r)
	case p == "/transfers":
		s.transfersPage(w, r)
	case strings.HasPrefix(p, "/transfers/"):
		s.transferPage(w, r, strings.TrimPrefix(p, "/transfers/"))
	case p == "/status":
		s.statusPage(w, r)
	case p == filter.ExternalPath:
		s.external(w, r)
	case p == "/static/style.css":
		s.serveStyle(w, r)
	case isKeyPath(p):
		if s.admitKey(w, r) {
			s.serveKey(w, r)
		}
	default:
		s.errorPage(w, r, http.StatusNotFound, "No such page",
			"The proxy has no page here. Keys are opened as /CHK@…, /SSK@…, /USK@… or /KSK@….", "")
	}
}

// refusedHost is the answer to a request for another host name. It is plain and says
// nothing of Lethe: the page that sent the request (through a DNS name it rebinds to this
// machine) can read it, and must not learn that a Lethe proxy runs here.
const refusedHost = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Refused</title></head>
<body><h1>Refused</h1>
<p>This server answers only requests addressed to its own host name and port, and this request
named another. If you typed the address yourself, use the address the server was set up with
(such as 127.0.0.1 and its port).</p></body></html>
`

func refuseHost(w http.ResponseWriter) {
	ownHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusForbidden)
	io.WriteString(w, refusedHost)
}

// servePost handles the requests that change something; each must carry its form's token.
func (s *Server) servePost(w http.ResponseWriter, r *http.Request, p string) {
	if p == "/insert" {
		s.insertPost(w, r) // multipart: the token is read as the first part
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "Bad form", "The form could not be read.", err.Error())
		return
	}
	if err := s.guard.checkPost(r, r.PostForm.Get("token")); err != nil {
		s.refuse(w, r, err)
		return
	}
	switch {
	case p == "/bookmarks":
		s.addBookmark(w, r)
	case p == "/bookmarks/remove":
		u, err := parseUserURI(r.PostForm.Get("uri"))
		if err == nil {
			err = s.marks.remove(u)
		}
		if err != nil {
			s.errorPage(w, r, http.StatusBadRequest, "Cannot remove the bookmark", err.Error(), "")
			return
		}
		redirect(w, "/", http.StatusSeeOther)
	case strings.HasPrefix(p, "/transfers/") && strings.HasSuffix(p, "/cancel"):
		id := strings.TrimSuffix(strings.TrimPrefix(p, "/transfers/"), "/cancel")
		t := s.xfers.get(id)
		if t == nil {
			s.errorPage(w, r, http.StatusNotFound, "No such transfer", "It may have finished long ago.", "")
			return
		}
		if t.cancel != nil {
			t.cancel()
		}
		redirect(w, "/transfers", http.StatusSeeOther)
	default:
		s.errorPage(w, r, http.StatusNotFound, "No such form", "Nothing is posted here.", "")
	}
}

// refuse answers a request that failed the CSRF check.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	s.errorPage(w, r, http.StatusForbidden, "Refused",
		"This form did not come from the proxy's own page in this browser, so the proxy does not act on it. "+
			"If you sent it yourself, reload the page and send it again.", err.Error())
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "home.html", view{Title: "Home", Nav: "home", Data: struct {
		Bookmarks []bookmarkView
	}{s.bookmarkViews()}})
}

// open takes what the user typed or pasted into the home page's field and opens it.
func (s *Server) open(w http.ResponseWriter, r *http.Request) {
	u, err := parseUserURI(r.URL.Query().Get("uri"))
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "Malformed URI", "This is not a Lethe URI a browser can open.", err.Error())
		return
	}
	redirect(w, filter.Path(u), http.StatusSeeOther)
}

// parseUserURI reads a URI as people paste them: with spaces around it, with a "lethe:" or
// "freenet:" prefix, or as a whole link to a proxy ("http://127.0.0.1:8888/USK@…").
func parseUserURI(s string) (crypto.RequestURI, error) {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "://"); i >= 0 && !strings.HasPrefix(strings.ToLower(s), "lethe:") {
		u, err := url.Parse(s)
		if err != nil {
			return crypto.RequestURI{}, fmt.Errorf("not a URI: %w", err)
		}
		s = u.Path
	}
	s = strings.TrimPrefix(s, "/")
	s = strings.TrimPrefix(s, "freenet:")
	return crypto.ParseURI(s)
}

func (s *Server) addBookmark(w http.ResponseWriter, r *http.Request) {
	u, err := parseUserURI(r.PostForm.Get("uri"))
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "Malformed URI", "The bookmark's URI is not a Lethe URI.", err.Error())
		return
	}
	if err := s.marks.add(r.PostForm.Get("title"), u); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "Cannot add the bookmark", err.Error(), "")
		return
	}
	if u.Type == crypto.USK && s.cfg.Getter != nil {
		s.searchEditions(u)
	}
	redirect(w, "/", http.StatusSeeOther)
}

// external is the warning page for links out of the network (spec §17.3): it shows the
// address as text, and does not follow it.
func (s *Server) external(w http.ResponseWriter, r *http.Request) {
	target := r.URL.Query().Get("url")
	if len(target) > 8<<10 {
		target = target[:8<<10] + "…"
	}
	s.render(w, r, http.StatusOK, "external.html", view{Title: "A link out of Lethe", Data: struct{ URL string }{target}})
}

// warnPage explains why a file is not shown, and links to it as a download.
func (s *Server) warnPage(w http.ResponseWriter, r *http.Request, uri crypto.RequestURI, doc *metadata.Document, d filter.Decision) {
	download := filter.Path(uri) + "?download=" + url.QueryEscape(s.guard.downloadToken(r.URL.Path))
	s.render(w, r, http.StatusOK, "warn.html", view{Title: "Not shown", Data: struct {
		Reason, Name, Type, URI, Download string
		Size                              int64
	}{d.Reason, d.Name, doc.MIMEType, uri.String(), download, doc.Size}})
}

// progressPage shows a download's progress and reloads itself until the file is there.
func (s *Server) progressPage(w http.ResponseWriter, r *http.Request, uri crypto.RequestURI, t transferView) {
	name := path.Base(uri.Path)
	if name == "/" || name == "." {
		name = uri.String()
	}
	q := r.URL.Query() // keeps a warned file's download token
	q.Set("stream", "1")
	s.render(w, r, http.StatusAccepted, "progress.html", view{Title: "Fetching", Refresh: 2, Data: struct {
		Name, URI, Stream string
		Transfer          transferView
	}{name, uri.String(), filter.Path(uri) + "?" + q.Encode(), t}})
}

// listing shows a directory that has no default file.
func (s *Server) listing(w http.ResponseWriter, r *http.Request, uri crypto.RequestURI, doc *metadata.Document) {
	type entry struct {
		Name, Link, Type string
		Size             int64
		Dir              bool
	}
	var entries []entry
	for _, e := range doc.Entries {
		en := entry{Name: e.Name, Type: e.Doc.MIMEType, Size: -1, Dir: e.Doc.Kind == metadata.KindManifest}
		if e.Doc.Kind == metadata.KindInline || e.Doc.Kind == metadata.KindSplitfile && !e.Doc.Metadata {
			en.Size = e.Doc.Size
		}
		p := uri.Path + e.Name
		if en.Dir {
			p += "/"
		}
		en.Link = filter.Path(uri.WithPath(p))
		entries = append(entries, en)
	}
	slices.SortStableFunc(entries, func(a, b entry) int {
		if a.Dir != b.Dir {
			if a.Dir {
				return -1
			}
			return 1
		}
		return 0
	})
	up := ""
	if uri.Path != "/" {
		parent := path.Dir(strings.TrimSuffix(uri.Path, "/"))
		up = filter.Path(uri.WithPath(strings.TrimSuffix(parent, "/") + "/"))
	}
	s.render(w, r, http.StatusOK, "listing.html", view{Title: "Directory", Data: struct {
		Path, URI, Up string
		Entries       []entry
	}{uri.Path, uri.String(), up, entries}})
}

func (s *Server) transfersPage(w http.ResponseWriter, r *http.Request) {
	running, finished := s.xfers.list()
	refresh := 0
	if len(running) > 0 {
		refresh = 3
	}
	s.render(w, r, http.StatusOK, "transfers.html", view{Title: "Transfers", Nav: "transfers", Refresh: refresh, Data: struct {
		Running, Finished []transferView
	}{running, finished}})
}

func (s *Server) transferPage(w http.ResponseWriter, r *http.Request, id string) {
	t := s.xfers.get(id)
	if t == nil {
		s.errorPage(w, r, http.StatusNotFound, "No such transfer", "It may have finished long ago: the proxy shows the last few only.", "")
		return
	}
	v := t.view()
	refresh := 0
	if !v.Done {
		refresh = 2
	}
	s.render(w, r, http.StatusOK, "transfer.html", view{Title: "Transfer", Nav: "transfers", Refresh: refresh, Data: v})
}
