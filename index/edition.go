package index

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"slices"

	"lethe/crypto"
	"lethe/session"
)

// Corpus is the documents to index, in the order they should be numbered (a directory's in
// path order, so that a site's documents sit together). It may be walked more than once.
type Corpus func(yield func(Doc) error) error

// Options tune a build (the zero value works).
type Options struct {
	Title string
	// TempDir holds the builder's run files (os.TempDir() if empty).
	TempDir string
	// RunPostings bounds the postings held in memory (DefaultRunPostings if 0).
	RunPostings int
	// MaxSegments is how many segments an edition may have before the next one is built
	// anew as one segment (DefaultMaxSegments if 0).
	MaxSegments int
}

// DefaultMaxSegments is when an index is rebuilt: beyond it every query pays a node per
// segment and word more than it must.
const DefaultMaxSegments = 4

// Report says what publishing an edition did.
type Report struct {
	URI                  crypto.RequestURI
	Root                 *Root
	Added, Removed, Kept int  // documents
	Rebuilt              bool // the edition is one new segment
	Build                BuildStats
}

// Publish builds an edition of an index from corpus and inserts it at target (spec §21.4).
// With the previous edition (nil for the first), documents that did not change are kept
// where they are; changed and new ones go into a new segment, and the old entries of changed
// and removed ones are listed as deleted, so that an edition costs blocks in proportion to
// what changed. When the edition would have more than MaxSegments segments, or more than a
// quarter of its documents deleted, it is built anew.
func Publish(ctx context.Context, g Getter, p Putter, target crypto.InsertURI, prev *Index, corpus Corpus, opts Options) (Report, error) {
	ctx = session.Start(ctx) // an edition's blocks travel as one session
	if opts.MaxSegments <= 0 {
		opts.MaxSegments = DefaultMaxSegments
	}
	var rep Report
	old := map[[8]byte]oldDoc{}
	if prev != nil {
		var err error
		if old, err = prev.documents(ctx, g); err != nil {
			return rep, err
		}
	}
	// First pass: which documents are new or changed.
	seen := map[[8]byte]bool{}
	changed := map[[8]byte]bool{}
	var deleted []uint64
	total := 0
	err := corpus(func(d Doc) error {
		u := uriKey(d.URI)
		if seen[u] {
			return fmt.Errorf("index: %v is in the corpus twice", d.URI)
		}
		seen[u] = true
		total++
		if o, ok := old[u]; ok {
			if o.hash == docHash(d) {
				rep.Kept++
				return nil
			}
			deleted = append(deleted, o.id)
		}
		changed[u] = true
		return nil
	})
	if err != nil {
		return rep, err
	}
	for u, o := range old {
		if !seen[u] {
			deleted = append(deleted, o.id)
			rep.Removed++
		}
	}
	root := &Root{Title: opts.Title}
	rebuild := prev == nil
	if prev != nil {
		root.Segments = slices.Clone(prev.Root.Segments)
		root.Deleted = slices.Concat(prev.Root.Deleted, deleted)
		slices.Sort(root.Deleted)
		all := uint64(0)
		for _, s := range root.Segments {
			all += s.Docs
		}
		segs := len(root.Segments)
		if len(changed) > 0 {
			segs++
			all += uint64(len(changed))
		}
		rebuild = segs > opts.MaxSegments || uint64(len(root.Deleted))*4 > all
		if root.Title == "" {
			root.Title = prev.Root.Title
		}
	}
	if rebuild {
		rep.Rebuilt = true
		root.Segments, root.Deleted = nil, nil
		rep.Kept = 0
		changed = nil // every document goes into the new segment
	}
	if len(changed) > 0 || rebuild {
		seg, stats, words, docs, err := buildSegment(ctx, p, corpus, changed, opts)
		if err != nil {
			return rep, err
		}
		rep.Build = stats
		if docs > 0 {
			root.Segments = append(root.Segments, seg)
		}
		rep.Added = docs
		root.Words = words
	}
	if len(root.Segments) > MaxSegments {
		return rep, fmt.Errorf("index: %d segments, at most %d", len(root.Segments), MaxSegments)
	}
	// The counts of the edition: kept documents are counted from the old table.
	for u, o := range old {
		if !rebuild && seen[u] && !changed[u] {
			root.Words += uint64(o.length)
		}
	}
	for _, s := range root.Segments {
		root.Docs += s.Docs
	}
	root.Docs -= uint64(len(root.Deleted))
	if root.Docs == 0 {
		return rep, errors.New("index: no document holds a word to index")
	}
	uri, err := p.Publish(ctx, target, root.Encode())
	if err != nil {
		return rep, fmt.Errorf("index: publish the root: %w", err)
	}
	rep.URI, rep.Root = uri, root
	return rep, nil
}

// buildSegment indexes the documents of corpus that only names (all if only is nil).
func buildSegment(ctx context.Context, p Putter, corpus Corpus, only map[[8]byte]bool, opts Options) (Segment, BuildStats, uint64, int, error) {
	b, err := newBuilder(opts.TempDir, opts.RunPostings)
	if err != nil {
		return Segment{}, BuildStats{}, 0, 0, err
	}
	defer b.close()
	err = corpus(func(d Doc) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if only != nil && !only[uriKey(d.URI)] {
			return nil
		}
		_, err := b.add(d)
		return err
	})
	if err != nil {
		return Segment{}, BuildStats{}, 0, 0, err
	}
	if b.n == 0 {
		return Segment{}, b.stats, 0, 0, nil
	}
	seg, err := b.finish(ctx, p)
	return seg, b.stats, b.words, int(b.n), err
}

// uriKey names a document for telling editions apart: a page of a USK site is the same
// document in every edition of the site, so that publishing a site's next edition changes
// in the index only the pages that changed (the others keep the URI of the edition they
// were indexed at, and the proxy opens the site's newest edition from there).
func uriKey(u crypto.RequestURI) [8]byte {
	if u.Type == crypto.USK {
		u = u.WithEdition(0)
	}
	s := sha256.Sum256([]byte(u.String()))
	return [8]byte(s[:8])
}

// oldDoc is what an update needs of a document of the previous edition.
type oldDoc struct {
	id     uint64 // global number
	hash   [8]byte
	length uint32
}

// documents reads the document tables of every segment: all their leaves, one at a time,
// keeping of each document only what an update needs.
func (ix *Index) documents(ctx context.Context, g Getter) (map[[8]byte]oldDoc, error) {
	rd := newReads(g)
	rd.max = math.MaxInt // an update reads every document table, however large
	out := map[[8]byte]oldDoc{}
	for s, seg := range ix.segs {
		var leaves []Ref
		if !seg.Small {
			var err error
			if leaves, err = leavesOf(ctx, rd, seg.Table); err != nil {
				return nil, err
			}
		}
		for j := range max(len(leaves), 1) {
			n := &node{docs: seg.DocList}
			if !seg.Small {
				var err error
				if n, err = fetchNode(ctx, g, leaves[j], kindDocs); err != nil {
					return nil, err
				}
			}
			for i, d := range n.docs {
				gid := ix.base[s] + uint64(n.first) + uint64(i)
				if ix.deleted(gid) {
					continue
				}
				u, err := crypto.ParseURI(d.URI)
				if err != nil {
					return nil, err
				}
				out[uriKey(u)] = oldDoc{id: gid, hash: d.Hash, length: d.Length}
			}
		}
	}
	return out, nil
}

// leavesOf lists the leaves of a tree, in order.
func leavesOf(ctx context.Context, rd *reads, t tree) ([]Ref, error) {
	if t.Height == 0 {
		out := make([]Ref, len(t.Entries))
		for i, e := range t.Entries {
			out[i] = e.Ref
		}
		return out, nil
	}
	var out []Ref
	for _, e := range t.Entries {
		n, err := rd.node(ctx, e.Ref, kindInner)
		if err != nil {
			return nil, err
		}
		if n.inner.Height != t.Height-1 {
			return nil, fmt.Errorf("%w: inner node at height %d under height %d", ErrMalformed, n.inner.Height, t.Height)
		}
		sub, err := leavesOf(ctx, rd, *n.inner)
		if err != nil {
			return nil, err
		}
		out = append(out, sub...)
	}
	return out, nil
}

// Blocks counts the nodes of the edition, root file not included: every node a reader
// could fetch. It fetches them all.
func (ix *Index) Blocks(ctx context.Context, g Getter) (int, error) {
	rd := newReads(g)
	rd.max = math.MaxInt
	n := 0
	for _, seg := range ix.segs {
		n++
		if seg.Small {
			for _, e := range seg.WordList {
				n += len(e.Blocks)
			}
			continue
		}
		for i, t := range []tree{seg.Words, seg.Table} {
			leaves, err := leavesOf(ctx, rd, t)
			if err != nil {
				return 0, err
			}
			n += len(leaves)
			if i > 0 {
				continue
			}
			for _, ref := range leaves {
				leaf, err := rd.node(ctx, ref, kindWords)
				if err != nil {
					return 0, err
				}
				for _, e := range leaf.words {
					n += len(e.Blocks)
				}
			}
		}
	}
	return n + rd.inner(), nil
}
