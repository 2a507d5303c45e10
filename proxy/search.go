package proxy

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"lethe/crypto"
	"lethe/index"
	"lethe/proxy/filter"
)

// The search page (spec §20.5): the words of a query never leave the proxy; it fetches the
// blocks of the bookmarked indexes through the node's normal request path, like any page.
const (
	searchResults = 10               // hits shown: a cold search fetches a document leaf for each at most
	maxQuery      = 512              // bytes of a query
	searchTime    = 30 * time.Second // for one search, all indexes together
)

// openIndexes keeps the indexes the search page opened, by edition: an edition never
// changes, so its root and segments are fetched once. Bounded by the bookmarks (500).
type openIndexes struct {
	mu sync.Mutex
	m  map[string]*index.Index // edition URI → index; guarded by mu
}

func (o *openIndexes) get(ctx context.Context, g index.Getter, u crypto.RequestURI) (*index.Index, error) {
	o.mu.Lock()
	ix, ok := o.m[u.String()]
	o.mu.Unlock()
	if ok {
		return ix, nil
	}
	ix, err := index.Open(ctx, g, u)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil || len(o.m) >= maxBookmarks {
		o.m = map[string]*index.Index{}
	}
	o.m[u.String()] = ix
	return ix, nil
}

// searchIndex is a bookmarked index as the search page lists it.
type searchIndex struct {
	Title, URI string
	Edition    int64
	Docs       uint64
	Err        string
}

type searchHit struct {
	Title, Link, URI, Snippet, Index string
	Score                            float64
}

type searchData struct {
	Query   string
	Words   []string
	Indexes []searchIndex
	Hits    []searchHit
	Matches int
	Blocks  int
	Took    string
	Asked   bool
}

// indexBookmarks returns the bookmarks that are indexes, at the newest edition known: a
// bookmark is an index if its file has the index's MIME type (spec §21.3).
func (s *Server) indexBookmarks(ctx context.Context) []bookmark {
	var out []bookmark
	for _, m := range s.marks.list() {
		u := m.URI
		if u.Type == crypto.USK {
			if n, ok := s.editions.Latest(u); ok && n > u.Edition {
				u = u.WithEdition(n)
			}
		}
		doc, _, err := s.resolve(ctx, u)
		if err != nil || doc.MIMEType != index.MIMEType {
			continue
		}
		out = append(out, bookmark{Title: m.Title, URI: u})
	}
	return out
}

// searchPage answers GET /search?q=…: the form, the indexes searched, and the results.
func (s *Server) searchPage(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > maxQuery {
		s.errorPage(w, r, http.StatusBadRequest, "Query too long", "A query is at most 512 bytes.", "")
		return
	}
	ctx, cancel := s.requestContext(r)
	defer cancel()
	ctx, stop := context.WithTimeout(ctx, searchTime)
	defer stop()
	start := time.Now()
	data := searchData{Query: q, Asked: q != ""}
	g := index.FetchGetter{F: s.fetcher()}
	var results []index.Result
	for _, b := range s.indexBookmarks(ctx) {
		si := searchIndex{Title: b.Title, URI: b.URI.String(), Edition: b.URI.Edition}
		ix, err := s.indexes.get(ctx, g, b.URI)
		if err == nil {
			si.Docs = ix.Root.Docs
			if q != "" {
				var res index.Result
				if res, err = ix.Search(ctx, g, q, searchResults); err == nil {
					results = append(results, res)
				}
			}
		}
		if err != nil {
			si.Err = err.Error()
		}
		data.Indexes = append(data.Indexes, si)
	}
	res := index.Merge(results, searchResults)
	data.Words, data.Matches, data.Blocks = index.Words(q), res.Matches, res.Blocks
	titles := map[string]string{}
	for _, si := range data.Indexes {
		titles[si.URI] = si.Title
	}
	for _, h := range res.Hits {
		u, err := crypto.ParseURI(h.URI)
		if err != nil {
			continue
		}
		data.Hits = append(data.Hits, searchHit{Title: h.Title, Link: filter.Path(u), URI: h.URI, Snippet: h.Snippet,
			Score: h.Score, Index: titles[h.Index.String()]})
	}
	data.Took = roundDuration(time.Since(start))
	s.render(w, r, http.StatusOK, "search.html", view{Title: "Search", Nav: "search", Data: data})
}
