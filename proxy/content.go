package proxy

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"

	"lethe/crypto"
	"lethe/fetch"
	"lethe/metadata"
	"lethe/private"
	"lethe/proxy/filter"
)

// isKeyPath reports whether a request path names a key ("/CHK@…", also after "lethe:" or
// "freenet:"), as opposed to one of the proxy's own pages.
func isKeyPath(p string) bool {
	rest := strings.TrimPrefix(p, "/")
	rest = strings.TrimPrefix(rest, "freenet:")
	rest = strings.TrimPrefix(rest, crypto.URIPrefix)
	if len(rest) < 4 || rest[3] != '@' {
		return false
	}
	switch rest[:3] {
	case "CHK", "SSK", "USK", "KSK":
		return true
	}
	return false
}

// parseKeyPath reads the URI a request path names. Freenet's "freenet:" prefix is accepted
// beside Lethe's own, since links and habits carry over.
func parseKeyPath(p string) (crypto.RequestURI, error) {
	rest := strings.TrimPrefix(p, "/")
	rest = strings.TrimPrefix(rest, "freenet:")
	return crypto.ParseURI(rest)
}

// serveKey answers GET and HEAD for a key path (spec §20.3): it redirects to the canonical
// path and to the newest edition of a site, resolves the path through the manifests, and
// serves the file through the content filter, as a stream, a range, or behind a progress
// page.
func (s *Server) serveKey(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Getter == nil {
		s.errorPage(w, r, http.StatusServiceUnavailable, "No network", "This proxy is not connected to a Lethe node, so it cannot fetch anything.", "")
		return
	}
	uri, err := parseKeyPath(r.URL.Path)
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "Malformed URI", "This address is not a valid Lethe URI.", err.Error())
		return
	}
	if r.URL.Path != "/"+uri.String() {
		redirect(w, filter.Path(uri), http.StatusMovedPermanently)
		return
	}
	ctx, cancel := s.requestContext(r)
	defer cancel()
	if uri.Type == crypto.USK && navigation(r) {
		if newest := s.newestEdition(ctx, uri); newest.Edition > uri.Edition {
			redirect(w, filter.Path(newest), http.StatusFound)
			return
		}
	}
	doc, dir, err := s.resolve(ctx, uri)
	if err != nil {
		s.fetchError(w, r, uri, err)
		return
	}
	if dir && !strings.HasSuffix(uri.Path, "/") {
		redirect(w, filter.Path(uri.WithPath(uri.Path+"/")), http.StatusMovedPermanently)
		return
	}
	if doc.Kind == metadata.KindManifest {
		s.listing(w, r, uri, doc)
		return
	}
	if doc.Size > s.cfg.MaxSize {
		s.fetchError(w, r, uri, fmt.Errorf("%w: %d bytes, the limit is %d", fetch.ErrTooLarge, doc.Size, s.cfg.MaxSize))
		return
	}
	name := ""
	if !strings.HasSuffix(uri.Path, "/") {
		name = path.Base(uri.Path)
	}
	d := filter.Decide(doc.MIMEType, name)
	q := r.URL.Query()
	// Whatever the browser would save as a file passes the warning page first (spec §17.1):
	// warned kinds always, audio and video when opened in a tab (a media element of a page
	// plays them without saving).
	saved := d.Action == filter.Warn || d.Action == filter.Download && opensInTab(r)
	if saved && !s.guard.checkDownload(r.URL.Path, q.Get("download")) {
		s.warnPage(w, r, uri, doc, d)
		return
	}
	if doc.Kind == metadata.KindSplitfile && doc.Size >= progressSize && !filtered(d) &&
		navigation(r) && r.Header.Get("Range") == "" && q.Get("stream") == "" {
		s.serveDownload(w, r, ctx, uri, doc, d)
		return
	}
	var cache fetch.BlockCache
	if dl := s.xfers.finished(uri.String()); dl != nil {
		cache = dl.cache // a download holds the blocks: serve from them, ranges too
	}
	s.stream(w, r, ctx, uri, doc, d, cache)
}

// navigation reports whether a request opens a page in a tab (or follows a link), rather
// than fetching an image, a stylesheet or a file for a program.
func navigation(r *http.Request) bool {
	if mode := r.Header.Get("Sec-Fetch-Mode"); mode != "" {
		return mode == "navigate"
	}
	return r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/html")
}

// filtered reports whether the filter changes the bytes of content under d, so that their
// length is not known in advance and ranges of them cannot be served.
func filtered(d filter.Decision) bool {
	switch d.Kind {
	case filter.KindHTML, filter.KindCSS, filter.KindJPEG, filter.KindPNG, filter.KindGIF, filter.KindWebP:
		return true
	}
	return false
}

// resolve follows uri to its document, through the cache of documents already resolved.
func (s *Server) resolve(ctx context.Context, uri crypto.RequestURI) (*metadata.Document, bool, error) {
	key := uri.String()
	if r, ok := s.docs.get(key); ok {
		return r.doc, r.dir, nil
	}
	doc, dir, err := s.fetcher().ResolveDir(ctx, uri)
	if err != nil {
		return nil, false, err
	}
	s.docs.put(key, resolved{doc, dir}, docCost(doc, 0)+int64(len(key)))
	return doc, dir, nil
}

// fetcher returns a Fetcher for one use. Fetchers are cheap; each counts its own progress.
func (s *Server) fetcher() *fetch.Fetcher {
	return s.newFetcher(nil, nil)
}

// newFetcher returns a Fetcher that keeps blocks in cache, or in the proxy's memory of blocks
// if cache is nil.
func (s *Server) newFetcher(cache fetch.BlockCache, progress func(fetch.Progress)) *fetch.Fetcher {
	if cache == nil {
		cache = s.blocks
	}
	return fetch.New(s.cfg.Getter, fetch.Config{
		MaxSize:  s.cfg.MaxSize,
		Editions: s.editions,
		Cache:    cache,
		Progress: progress,
		Logger:   s.log,
	})
}

// stream sends the content doc describes as it is fetched: through the filter where the
// decision says so, else unchanged with its length, and a range of it if asked for. With a
// cache, the blocks come from there first (a download fetched in the background).
func (s *Server) stream(w http.ResponseWriter, r *http.Request, ctx context.Context, uri crypto.RequestURI,
	doc *metadata.Document, d filter.Decision, cache fetch.BlockCache) {
	h := d.Header()
	h.Set("Cache-Control", "no-store")
	offset, length := int64(0), doc.Size
	status := http.StatusOK
	if filtered(d) {
		h.Set("Accept-Ranges", "none")
	} else {
		etag := contentTag(uri)
		h.Set("Accept-Ranges", "bytes")
		h.Set("ETag", etag)
		rng, err := parseRange(r.Header.Get("Range"), doc.Size)
		if ir := r.Header.Get("If-Range"); ir != "" && ir != etag {
			rng, err = nil, nil // the browser holds other bytes: send them all
		}
		switch {
		case errors.Is(err, errUnsatisfiable):
			h.Set("Content-Range", "bytes */"+strconv.FormatInt(doc.Size, 10))
			s.errorPageHeader(w, r, h, http.StatusRequestedRangeNotSatisfiable, "Range not satisfiable",
				fmt.Sprintf("The range asked for lies outside the file, which is %d bytes long.", doc.Size), "")
			return
		case rng != nil:
			offset, length, status = rng.start, rng.length, http.StatusPartialContent
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", rng.start, rng.start+rng.length-1, doc.Size))
		}
		h.Set("Content-Length", strconv.FormatInt(length, 10))
	}
	if r.Method == http.MethodHead {
		copyHeader(w.Header(), h)
		w.WriteHeader(status)
		return
	}

	cost := fetchCost(doc)
	if err := s.budget.acquire(ctx, cost); err != nil {
		return // the browser went away, or the proxy is closing
	}
	defer s.budget.release(cost)
	var tr *transfer
	var progress func(fetch.Progress)
	if doc.Kind == metadata.KindSplitfile && cache == nil {
		tr = s.xfers.start(kindFetch, uri.String(), filter.Path(uri), length, nil)
		progress = tr.fetchProgress
	}
	err := s.send(w, r, ctx, uri, doc, d, cache, progress, h, status, offset, length)
	if tr != nil {
		tr.finish(err)
	}
}

// send opens the content at offset and copies length bytes (or everything, filtered) to w.
// An error before the first byte is sent becomes an error page; after it, the connection
// is broken off, so that the browser knows the file is incomplete.
func (s *Server) send(w http.ResponseWriter, r *http.Request, ctx context.Context, uri crypto.RequestURI,
	doc *metadata.Document, d filter.Decision, cache fetch.BlockCache, progress func(fetch.Progress),
	h http.Header, status int, offset, length int64) error {
	f := s.newFetcher(cache, progress)
	tdoc, skip := tail(doc, offset)
	rd, err := f.OpenDocument(ctx, tdoc)
	if err != nil {
		s.fetchError(w, r, uri, err)
		return err
	}
	defer rd.Close()
	if skip > 0 {
		if _, err := io.CopyN(io.Discard, rd, skip); err != nil {
			s.fetchError(w, r, uri, err)
			return err
		}
	}
	br := bufio.NewReaderSize(rd, 32<<10)
	if length > 0 {
		// Wait for the first segment before answering, so that a file the network cannot
		// find gets an error page rather than a broken download.
		if _, err := br.Peek(1); err != nil {
			s.fetchError(w, r, uri, err)
			return err
		}
	}
	lw := &lazyWriter{w: w, header: h, status: status}
	if filtered(d) {
		err = d.Filter(lw, br, filter.Page{Path: "/" + uri.String()})
	} else {
		_, err = io.CopyN(lw, br, length)
	}
	if err != nil {
		if !lw.started {
			s.fetchError(w, r, uri, err)
			return err
		}
		if ctx.Err() == nil {
			s.log.Info("proxy: content stopped part-way", "uri", uri, "failure", describe(err).heading, "err", private.Error{Err: err})
		}
		panic(http.ErrAbortHandler) // break the connection: the browser must not take it as whole
	}
	lw.start()
	return nil
}

// lazyWriter sends the response's status and headers with the first byte of its body, so
// that an error found before it can still be answered with an error page.
type lazyWriter struct {
	w       http.ResponseWriter
	header  http.Header
	status  int
	started bool
}

func (l *lazyWriter) start() {
	if l.started {
		return
	}
	l.started = true
	copyHeader(l.w.Header(), l.header)
	l.w.WriteHeader(l.status)
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	l.start()
	return l.w.Write(p)
}

func copyHeader(dst, src http.Header) {
	for k, v := range src {
		dst[k] = v
	}
}

// contentTag is the ETag of what a URI names, which never changes (see docCache).
func contentTag(uri crypto.RequestURI) string {
	sum := sha256.Sum256([]byte(uri.String()))
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// redirect answers with a redirect to a path of the proxy's, written by filter.Path or one
// of the proxy's own pages.
func redirect(w http.ResponseWriter, to string, code int) {
	ownHeaders(w.Header())
	w.Header().Set("Location", to)
	w.WriteHeader(code)
}
