package proxy

import (
	"bytes"

	"lethe/crypto"
	"lethe/metadata"
)

// resolved is what a URI resolved to: a document, and whether the URI's path ends at a
// directory (fetch.ResolveDir).
type resolved struct {
	doc *metadata.Document
	dir bool
}

// newDocCache keeps the documents that URIs resolved to, so that the pages, stylesheets and
// images of a site do not each fetch and walk its manifest again. What a URI names never
// changes — CHKs are named by their content, and an SSK slot (a USK edition, a KSK) is
// written once (spec §4.3) — so an entry never goes stale; the cache is bounded by an
// estimate of the memory its documents hold.
func newDocCache(max int64) *lru[string, resolved] { return newLRU[string, resolved](max) }

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

// blockCache is the proxy's memory of the blocks it fetched, as they travel (encrypted), so
// that a site's pages and images opened again are not asked of the network again: the node
// keeps its own user's downloads out of its shared store (spec §8). fetch verifies
// every block it loads from here again. It is a fetch.BlockCache.
type blockCache struct {
	l *lru[crypto.RoutingKey, []byte]
}

func newBlockCache(max int64) *blockCache {
	return &blockCache{l: newLRU[crypto.RoutingKey, []byte](max)}
}

func (c *blockCache) Load(rk crypto.RoutingKey) ([]byte, bool) { return c.l.get(rk) }

func (c *blockCache) Store(rk crypto.RoutingKey, block []byte) error {
	c.l.put(rk, bytes.Clone(block), int64(len(block))+64)
	return nil
}
