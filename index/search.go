package index

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"

	"lethe/crypto"
	"lethe/session"
)

// BM25 parameters (spec §21.5): the usual ones.
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// Index is an edition of an index opened for searching: its root and the first node of
// each segment.
type Index struct {
	URI  crypto.RequestURI // the edition
	Root *Root
	segs []*segmentTop
	base []uint64 // global number of each segment's first document
}

// Hit is one document found.
type Hit struct {
	URI     string
	Title   string
	Snippet string
	Score   float64
	Index   crypto.RequestURI // the edition it was found in
}

// Result is the answer to a query.
type Result struct {
	Words   []string // the query's words, normalised
	Hits    []Hit    // the best documents, best first
	Matches int      // documents that hold at least one of the words
	Blocks  int      // index nodes fetched, the root file included
}

// reads fetches and decodes nodes for one operation, each at most once, and counts them.
type reads struct {
	g   Getter
	mu  sync.Mutex
	m   map[Ref]*readCall // guarded by mu
	n   int               // nodes fetched; guarded by mu
	max int               // nodes that may be fetched
}

type readCall struct {
	done chan struct{}
	n    *node
	err  error
}

func newReads(g Getter) *reads { return &reads{g: g, m: map[Ref]*readCall{}, max: MaxReads} }

// MaxReads bounds the nodes one search or one update may fetch, so that a hostile index
// (a word in a thousand postings nodes, a tree of needless levels) costs its reader a bounded
// number of requests. An honest index of a million documents needs far fewer for a query.
const MaxReads = 1024

// ErrTooManyReads: the index would have a search fetch more than MaxReads nodes.
var ErrTooManyReads = errors.New("index: the search needs too many blocks")

func (r *reads) node(ctx context.Context, ref Ref, kind byte) (*node, error) {
	r.mu.Lock()
	c, ok := r.m[ref]
	if !ok && r.n >= r.max {
		r.mu.Unlock()
		return nil, fmt.Errorf("%w: more than %d", ErrTooManyReads, r.max)
	}
	if !ok {
		c = &readCall{done: make(chan struct{})}
		r.m[ref] = c
		r.n++
	}
	r.mu.Unlock()
	if !ok {
		c.n, c.err = fetchNode(ctx, r.g, ref, kind)
		close(c.done)
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if c.err == nil && c.n.kind != kind { // one node named where two kinds belong
		return nil, fmt.Errorf("%w: node %v is of kind %d where kind %d belongs", ErrMalformed, ref.URI(), c.n.kind, kind)
	}
	return c.n, c.err
}

// fetchNode fetches and decodes one node, which must be of the given kind.
func fetchNode(ctx context.Context, g Getter, ref Ref, kind byte) (*node, error) {
	b, err := g.Get(ctx, ref.URI(), int64(MaxNode))
	if err != nil {
		return nil, fmt.Errorf("index: node %v: %w", ref.URI(), err)
	}
	n, err := decodeNode(b, 0)
	if err != nil {
		return nil, fmt.Errorf("index: node %v: %w", ref.URI(), err)
	}
	if n.kind != kind {
		return nil, fmt.Errorf("%w: node %v is of kind %d where kind %d belongs", ErrMalformed, ref.URI(), n.kind, kind)
	}
	return n, nil
}

// inner counts the inner nodes fetched.
func (r *reads) inner() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.m {
		if c.n != nil && c.n.kind == kindInner {
			n++
		}
	}
	return n
}

func (r *reads) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// Open fetches an index edition's root and the first node of each of its segments.
func Open(ctx context.Context, g Getter, uri crypto.RequestURI) (*Index, error) {
	ctx = session.Start(ctx) // its blocks travel as one session (package session)
	return open(ctx, newReads(g), uri)
}

func open(ctx context.Context, rd *reads, uri crypto.RequestURI) (*Index, error) {
	b, err := rd.g.Get(ctx, uri, MaxRoot)
	if err != nil {
		return nil, fmt.Errorf("index: fetch %v: %w", uri, err)
	}
	root, err := DecodeRoot(b)
	if err != nil {
		return nil, fmt.Errorf("index: %v: %w", uri, err)
	}
	ix := &Index{URI: uri, Root: root, segs: make([]*segmentTop, len(root.Segments))}
	base := uint64(0)
	for _, s := range root.Segments {
		ix.base = append(ix.base, base)
		base += s.Docs
	}
	err = parallel(ctx, len(root.Segments), func(ctx context.Context, i int) error {
		n, err := rd.node(ctx, root.Segments[i].Top, kindSegment)
		if err != nil {
			return err
		}
		if uint64(n.segment.Docs) != root.Segments[i].Docs {
			return fmt.Errorf("%w: segment %d holds %d documents, the root says %d", ErrMalformed, i, n.segment.Docs, root.Segments[i].Docs)
		}
		ix.segs[i] = n.segment
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ix, nil
}

// SearchURI opens the index edition uri and answers a query in it; the count of blocks
// includes the root file and the segments' first nodes.
func SearchURI(ctx context.Context, g Getter, uri crypto.RequestURI, query string, k int) (Result, error) {
	ctx = session.Start(ctx) // one search, one session: its blocks walk one stem
	rd := newReads(g)
	ix, err := open(ctx, rd, uri)
	if err != nil {
		return Result{}, err
	}
	res, err := ix.search(ctx, rd, Words(query), k)
	res.Blocks = rd.count() + 1
	return res, err
}

// parallel runs f for 0…n-1 at once and returns the first error.
func parallel(ctx context.Context, n int, f func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if errs[i] = f(ctx, i); errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// descend walks a tree from its top to the leaf whose range holds key.
func descend(ctx context.Context, rd *reads, t tree, key string) (Ref, bool, error) {
	for {
		i := sort.Search(len(t.Entries), func(i int) bool { return t.Entries[i].Key > key }) - 1
		if i < 0 {
			return Ref{}, false, nil // before the first key: not in the tree
		}
		if t.Height == 0 {
			return t.Entries[i].Ref, true, nil
		}
		n, err := rd.node(ctx, t.Entries[i].Ref, kindInner)
		if err != nil {
			return Ref{}, false, err
		}
		if n.inner.Height != t.Height-1 {
			return Ref{}, false, fmt.Errorf("%w: inner node at height %d under height %d", ErrMalformed, n.inner.Height, t.Height)
		}
		t = *n.inner
	}
}

// postingsOf fetches the postings of word in segment s, and returns them with the words
// of the leaf that holds it (whose champions a search may use, whatever their word).
func (ix *Index) postingsOf(ctx context.Context, rd *reads, s int, word string) ([]Posting, []wordEntry, error) {
	var words []wordEntry
	if seg := ix.segs[s]; seg.Small {
		words = seg.WordList
	} else {
		ref, ok, err := descend(ctx, rd, seg.Words, word)
		if err != nil || !ok {
			return nil, nil, err
		}
		leaf, err := rd.node(ctx, ref, kindWords)
		if err != nil {
			return nil, nil, err
		}
		words = leaf.words
	}
	i, found := slices.BinarySearchFunc(words, word, func(e wordEntry, w string) int { return strings.Compare(e.Word, w) })
	if !found {
		return nil, nil, nil
	}
	e := words[i]
	if len(e.Blocks) == 0 {
		return e.Postings, words, nil
	}
	parts := make([][]Posting, len(e.Blocks))
	err := parallel(ctx, len(e.Blocks), func(ctx context.Context, j int) error {
		n, err := rd.node(ctx, e.Blocks[j].Ref, kindPostings)
		if err != nil {
			return err
		}
		ps := n.postings
		if len(ps) != int(e.Blocks[j].Count) || ps[0].Doc != e.Blocks[j].First {
			return fmt.Errorf("%w: postings node of %q does not match its entry", ErrMalformed, word)
		}
		parts[j] = ps
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return slices.Concat(parts...), words, nil
}

// scored is a document's score while a query is answered.
type scored struct {
	seg   int
	doc   uint32
	score float64
}

// Search answers a query with the k best documents by BM25 (spec §21.5). Every word of the
// query counts (a document holding any of them matches); a document's score is the sum of
// its words' BM25 weights, added in the order the words appear in the query.
func (ix *Index) Search(ctx context.Context, g Getter, query string, k int) (Result, error) {
	ctx = session.Start(ctx) // one search, one session: its blocks walk one stem
	rd := newReads(g)
	res, err := ix.search(ctx, rd, Words(query), k)
	res.Blocks = rd.count()
	return res, err
}

func (ix *Index) search(ctx context.Context, rd *reads, words []string, k int) (Result, error) {
	words = unique(words)
	res := Result{Words: words}
	if len(words) == 0 || ix.Root.Docs == 0 {
		return res, nil
	}
	type list struct {
		ps   []Posting
		leaf []wordEntry // the words of the leaf that holds the word
	}
	lists := make([][]list, len(words)) // [word][segment]
	for i := range lists {
		lists[i] = make([]list, len(ix.segs))
	}
	err := parallel(ctx, len(words)*len(ix.segs), func(ctx context.Context, j int) error {
		w, s := j/len(ix.segs), j%len(ix.segs)
		ps, leaf, err := ix.postingsOf(ctx, rd, s, words[w])
		lists[w][s] = list{ps, leaf}
		return err
	})
	if err != nil {
		return res, err
	}
	n := float64(ix.Root.Docs)
	avg := float64(ix.Root.Words) / n
	scores := map[uint64]*scored{}
	for w := range words {
		df := 0
		for s, l := range lists[w] {
			for _, p := range l.ps {
				if !ix.deleted(ix.base[s] + uint64(p.Doc)) {
					df++
				}
			}
		}
		idf := IDF(int(ix.Root.Docs), df)
		for s, l := range lists[w] {
			for _, p := range l.ps {
				gid := ix.base[s] + uint64(p.Doc)
				if ix.deleted(gid) {
					continue
				}
				sc := scores[gid]
				if sc == nil {
					sc = &scored{seg: s, doc: p.Doc}
					scores[gid] = sc
				}
				sc.score += Weight(idf, p.TF, p.Norm, avg)
			}
		}
	}
	res.Matches = len(scores)
	all := make([]*scored, 0, len(scores))
	for _, sc := range scores {
		all = append(all, sc)
	}
	// Order by score, then by segment and document, until the URIs are known.
	slices.SortFunc(all, func(a, b *scored) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.seg, b.seg), cmp.Compare(a.doc, b.doc))
	})
	// Documents tied with the k-th are all looked up, so that ties break by URI.
	cutAt := min(k, len(all))
	for cutAt < len(all) && cutAt > 0 && all[cutAt].score == all[cutAt-1].score {
		cutAt++
	}
	top := all[:cutAt]
	// The entries of the best documents: from the champions of the words in the leaves
	// fetched (the query words' own, and any other's: the leaf is there already) where
	// they are there, else from the document leaves.
	known := map[[2]uint64]DocInfo{}
	for w := range lists {
		for s, l := range lists[w] {
			for _, e := range l.leaf {
				for _, c := range e.Champions {
					known[[2]uint64{uint64(s), uint64(c.Doc)}] = c.Info
				}
			}
		}
	}
	infos := make([]DocInfo, len(top))
	err = parallel(ctx, len(top), func(ctx context.Context, i int) error {
		if d, ok := known[[2]uint64{uint64(top[i].seg), uint64(top[i].doc)}]; ok {
			infos[i] = d
			return nil
		}
		d, err := ix.docInfo(ctx, rd, top[i].seg, top[i].doc)
		infos[i] = d
		return err
	})
	if err != nil {
		return res, err
	}
	for i, sc := range top {
		res.Hits = append(res.Hits, Hit{URI: infos[i].URI, Title: infos[i].Title, Snippet: infos[i].Snippet, Score: sc.score, Index: ix.URI})
	}
	SortHits(res.Hits)
	if len(res.Hits) > k {
		res.Hits = res.Hits[:k]
	}
	return res, nil
}

// Weight is a word's BM25 weight in a document: idf times the saturated, length-normalised
// term frequency. The document's length is the one its norm stands for (Norm).
func Weight(idf float64, tf uint32, norm uint8, avgLen float64) float64 {
	t := float64(tf)
	return idf * t * (bm25K1 + 1) / (t + bm25K1*(1-bm25B+bm25B*float64(NormLength(norm))/avgLen))
}

// IDF is a word's inverse document frequency among n documents of which df hold it.
func IDF(n, df int) float64 {
	return math.Log(1 + (float64(n)-float64(df)+0.5)/(float64(df)+0.5))
}

// SortHits orders hits best first, equal scores by URI.
func SortHits(h []Hit) {
	slices.SortStableFunc(h, func(a, b Hit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return strings.Compare(a.URI, b.URI)
	})
}

func (ix *Index) deleted(gid uint64) bool {
	_, found := slices.BinarySearch(ix.Root.Deleted, gid)
	return found
}

// docInfo fetches what the index says of document doc of segment s.
func (ix *Index) docInfo(ctx context.Context, rd *reads, s int, doc uint32) (DocInfo, error) {
	if seg := ix.segs[s]; seg.Small {
		if doc >= uint32(len(seg.DocList)) {
			return DocInfo{}, fmt.Errorf("%w: document %d of a segment of %d", ErrMalformed, doc, len(seg.DocList))
		}
		return seg.DocList[doc], nil
	}
	key := string(binary.BigEndian.AppendUint32(nil, doc))
	ref, ok, err := descend(ctx, rd, ix.segs[s].Table, key)
	if err != nil {
		return DocInfo{}, err
	}
	if !ok {
		return DocInfo{}, fmt.Errorf("%w: document %d not in its segment's table", ErrMalformed, doc)
	}
	leaf, err := rd.node(ctx, ref, kindDocs)
	if err != nil {
		return DocInfo{}, err
	}
	if doc < leaf.first || doc-leaf.first >= uint32(len(leaf.docs)) {
		return DocInfo{}, fmt.Errorf("%w: document %d not in the leaf its key leads to", ErrMalformed, doc)
	}
	return leaf.docs[doc-leaf.first], nil
}

func unique(words []string) []string {
	var out []string
	for _, w := range words {
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

// Merge combines the answers of several indexes (spec §21.5): hits are ordered by their
// BM25 scores, each computed within its own index, and a document found in several keeps
// its best score.
func Merge(results []Result, k int) Result {
	var out Result
	best := map[string]int{}
	for _, r := range results {
		out.Matches += r.Matches
		out.Blocks += r.Blocks
		if out.Words == nil {
			out.Words = r.Words
		}
		for _, h := range r.Hits {
			if i, ok := best[h.URI]; ok {
				if h.Score > out.Hits[i].Score {
					out.Hits[i] = h
				}
				continue
			}
			best[h.URI] = len(out.Hits)
			out.Hits = append(out.Hits, h)
		}
	}
	SortHits(out.Hits)
	if len(out.Hits) > k {
		out.Hits = out.Hits[:k]
	}
	return out
}
