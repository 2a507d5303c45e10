package proxy

import (
	"container/list"
	"sync"

	"lethe/metadata"
)

// docCache keeps the documents that URIs resolved to, so that the pages, stylesheets and
// images of a site do not each fetch and walk its manifest again. What a URI names never
// changes — CHKs are named by their content, and an SSK slot (a USK edition, a KSK) is
// written once (spec §4.3) — so an entry never goes stale; the cache is bounded by an
// estimate of the memory its documents hold, and forgets the least recently used first.
type docCache struct {
	mu    sync.Mutex
	max   int64                    // bytes
	size  int64                    // guarded by mu
	order *list.List               // of *docEntry, most recently used first; guarded by mu
	byURI map[string]*list.Element // guarded by mu
}

type docEntry struct {
	uri  string
	doc  *metadata.Document
	dir  bool // the URI's path ends at a directory (fetch.ResolveDir)
	cost int64
}

func newDocCache(max int64) *docCache {
	return &docCache{max: max, order: list.New(), byURI: map[string]*list.Element{}}
}

func (c *docCache) get(uri string) (*metadata.Document, bool, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byURI[uri]
	if !ok {
		return nil, false, false
	}
	c.order.MoveToFront(e)
	de := e.Value.(*docEntry)
	return de.doc, de.dir, true
}

func (c *docCache) put(uri string, doc *metadata.Document, dir bool) {
	cost := docCost(doc, 0) + int64(len(uri))
	if cost > c.max/8 {
		return // one huge manifest would push out everything else
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byURI[uri]; ok {
		return
	}
	c.byURI[uri] = c.order.PushFront(&docEntry{uri: uri, doc: doc, dir: dir, cost: cost})
	c.size += cost
	for c.size > c.max {
		last := c.order.Back()
		de := last.Value.(*docEntry)
		c.order.Remove(last)
		delete(c.byURI, de.uri)
		c.size -= de.cost
	}
}

// docCost estimates the bytes a decoded document holds.
func docCost(d *metadata.Document, depth int) int64 {
	const overhead = 256
	n := int64(overhead + len(d.Data) + len(d.MIMEType))
	if d.Split != nil {
		for i := range d.Split.Segments {
			seg := &d.Split.Segments[i]
			n += int64(len(seg.Routing)*32+len(seg.Crypto)*32) + 64
		}
	}
	if depth < metadata.MaxDepth {
		for _, e := range d.Entries {
			n += int64(len(e.Name)) + docCost(e.Doc, depth+1)
		}
	}
	return n
}
