// Package crawl gathers the documents a search index is built from (docs/spec.md §21.4):
// the files of a directory that is, or will be, published as a site, or the pages of sites
// in the network, found by following their links from start URIs. Either way a document's
// text is what the proxy's content filter would show of it (package proxy/filter).
package crawl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"lethe/crypto"
	"lethe/index"
	"lethe/metadata"
	"lethe/proxy/filter"
)

// Limits (tuning, not format).
const (
	// DefaultMaxFile is the most bytes of one document read for its text.
	DefaultMaxFile = 4 << 20
)

// docOf turns a document's bytes into what the index takes, or reports false for content
// that holds no text.
func docOf(uri crypto.RequestURI, data []byte, mimeType string) (index.Doc, []crypto.RequestURI, bool, error) {
	name := path.Base(uri.Path)
	page := filter.Page{Path: "/" + uri.String()}
	t, err := filter.ExtractText(bytes.NewReader(data), mimeType, name, page, int64(len(data)))
	if errors.Is(err, filter.ErrNotText) {
		return index.Doc{}, nil, false, nil
	}
	if err != nil {
		return index.Doc{}, nil, false, fmt.Errorf("crawl: %v: %w", uri, err)
	}
	title := t.Title
	if title == "" {
		title = name
	}
	return index.Doc{URI: uri, Title: title, Text: t.Body}, t.Links, true, nil
}

// Dir is the corpus of the files under root, as documents of the site at base: the file
// a/b.html is base with the path /a/b.html. Files are taken in path order; their MIME type
// is the one an insert would give them (spec §12.7). Files the filter would not show as text
// are passed over, and so are files larger than maxFile bytes (DefaultMaxFile if 0).
func Dir(root string, base crypto.RequestURI, maxFile int64) index.Corpus {
	if maxFile <= 0 {
		maxFile = DefaultMaxFile
	}
	base = base.WithPath("")
	return func(yield func(index.Doc) error) error {
		return fs.WalkDir(os.DirFS(root), ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if info.Size() > maxFile {
				return nil
			}
			data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
			if err != nil {
				return err
			}
			uri := base.WithPath("/" + p)
			doc, _, ok, err := docOf(uri, data, metadata.MIMEType(path.Base(p), data[:min(len(data), 512)]))
			if err != nil || !ok {
				return err
			}
			return yield(doc)
		})
	}
}

// Fetcher fetches a file from the network with its MIME type, refusing files larger than
// maxSize. The command line fills it with the node's client protocol.
type Fetcher interface {
	Fetch(ctx context.Context, uri crypto.RequestURI, maxSize int64) (data []byte, mimeType string, err error)
}

// SpiderConfig bounds a crawl. The zero value takes 1,000 documents at most 3 links deep,
// one every 100 ms.
type SpiderConfig struct {
	MaxDocs  int           // documents taken (default 1000)
	MaxDepth int           // links followed from a start URI (default 3)
	MaxFile  int64         // bytes of one document (default DefaultMaxFile)
	MaxBytes int64         // bytes fetched in all (default 1 GiB)
	Delay    time.Duration // between two fetches, to share the network politely (default 100 ms)
	// SameSite keeps the crawl inside the sites of the start URIs (default: follow every
	// link inside the network).
	SameSite bool
	TempDir  string // where the documents wait (os.TempDir() if empty)
	// Log, if set, is told of each document fetched or failed.
	Log func(uri crypto.RequestURI, err error)
}

// Spool is the documents a crawl found, kept in a file so that they can be read more than
// once in bounded memory. Close removes the file.
type Spool struct {
	path  string
	Docs  int
	Bytes int64
}

// Corpus reads the spooled documents, in the order they were found.
func (s *Spool) Corpus() index.Corpus {
	return func(yield func(index.Doc) error) error {
		f, err := os.Open(s.path)
		if err != nil {
			return err
		}
		defer f.Close()
		dec := json.NewDecoder(bufio.NewReader(f))
		for {
			var d index.Doc
			if err := dec.Decode(&d); err == io.EOF {
				return nil
			} else if err != nil {
				return fmt.Errorf("crawl: spool: %w", err)
			}
			if err := yield(d); err != nil {
				return err
			}
		}
	}
}

// Close removes the spool.
func (s *Spool) Close() error { return os.Remove(s.path) }

// Spider follows links inside the network from the start URIs, breadth first, through f
// (so through the node's normal request path and, for the text, the content filter), and
// spools every document that holds text. A page that cannot be fetched is passed over.
func Spider(ctx context.Context, f Fetcher, starts []crypto.RequestURI, cfg SpiderConfig) (*Spool, error) {
	if cfg.MaxDocs <= 0 {
		cfg.MaxDocs = 1000
	}
	if cfg.MaxDepth <= 0 {
		cfg.MaxDepth = 3
	}
	if cfg.MaxFile <= 0 {
		cfg.MaxFile = DefaultMaxFile
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 1 << 30
	}
	if cfg.Delay <= 0 {
		cfg.Delay = 100 * time.Millisecond
	}
	out, err := os.CreateTemp(cfg.TempDir, "lethe-crawl-*.json")
	if err != nil {
		return nil, fmt.Errorf("crawl: %w", err)
	}
	sp := &Spool{path: out.Name()}
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	type item struct {
		uri   crypto.RequestURI
		depth int
	}
	sites := map[string]bool{}
	var queue []item
	seen := map[string]bool{}
	for _, u := range starts {
		sites[siteKey(u)] = true
		if !seen[u.String()] {
			seen[u.String()] = true
			queue = append(queue, item{u, 0})
		}
	}
	tick := time.NewTicker(cfg.Delay)
	defer tick.Stop()
	fetched := int64(0)
	for len(queue) > 0 && sp.Docs < cfg.MaxDocs && fetched < cfg.MaxBytes {
		it := queue[0]
		queue = queue[1:]
		select {
		case <-ctx.Done():
			out.Close()
			sp.Close()
			return nil, ctx.Err()
		case <-tick.C:
		}
		data, mimeType, err := f.Fetch(ctx, it.uri, min(cfg.MaxFile, cfg.MaxBytes-fetched))
		if err == nil {
			fetched += int64(len(data))
		}
		var (
			doc   index.Doc
			links []crypto.RequestURI
			ok    bool
		)
		if err == nil {
			doc, links, ok, err = docOf(it.uri, data, mimeType)
		}
		if cfg.Log != nil {
			cfg.Log(it.uri, err)
		}
		if err != nil {
			if ctx.Err() != nil {
				out.Close()
				sp.Close()
				return nil, ctx.Err()
			}
			continue
		}
		if ok {
			if err := enc.Encode(doc); err != nil {
				out.Close()
				sp.Close()
				return nil, fmt.Errorf("crawl: spool: %w", err)
			}
			sp.Docs++
			sp.Bytes += int64(len(doc.Text))
		}
		if it.depth >= cfg.MaxDepth {
			continue
		}
		for _, l := range links {
			l.Path = strings.TrimSuffix(l.Path, "#")
			if seen[l.String()] || cfg.SameSite && !sites[siteKey(l)] {
				continue
			}
			if len(seen) >= 16*cfg.MaxDocs {
				break // bounded memory of URIs seen
			}
			seen[l.String()] = true
			queue = append(queue, item{l, it.depth + 1})
		}
	}
	if err := w.Flush(); err != nil {
		out.Close()
		sp.Close()
		return nil, fmt.Errorf("crawl: spool: %w", err)
	}
	if err := out.Close(); err != nil {
		sp.Close()
		return nil, fmt.Errorf("crawl: spool: %w", err)
	}
	return sp, nil
}

// siteKey names the site a URI belongs to, whatever its edition or path.
func siteKey(u crypto.RequestURI) string {
	if u.Type == crypto.USK {
		u = u.WithEdition(0)
	}
	return u.WithPath("").String()
}
