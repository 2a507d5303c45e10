package index

import (
	"bufio"
	"cmp"
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"lethe/crypto"
)

// Doc is a document to index: where it is, its title and its text.
type Doc struct {
	URI   crypto.RequestURI
	Title string
	Text  string
}

// Tuning of the builder (not part of the format).
const (
	// DefaultRunPostings is how many postings the builder holds in memory before it sorts
	// them and writes them to a run file: about 32 MiB, and their words.
	DefaultRunPostings = 1 << 20
	// inlineLimit is the most bytes of postings, before compression, kept in a word's leaf;
	// a longer list goes into postings nodes of its own, so that a leaf holds many words.
	// Postings compress about by half: inline, a word takes at most a quarter of its leaf.
	inlineLimit = MaxNode / 2
	snippetWant = 64 // bytes a snippet is cut to, at a word boundary
	runBuffer   = 32 << 10
	// manyChampions is the most champions a word carries (championsFor).
	manyChampions = 32
)

// builder makes one segment from documents added in order, in memory bounded by
// runPostings whatever the number of documents: postings are sorted in runs spilled to
// files and merged once at the end (an external sort), documents stream to a file.
type builder struct {
	dir         string
	runPostings int

	buf   []spill  // postings not yet in a run
	runs  []string // run files, in the order written
	docs  *os.File // the documents' entries, encoded, in order
	docsW *bufio.Writer
	pos   int64    // bytes written to docs
	offs  *os.File // where each document's entry starts in docs, 8 bytes each
	offsW *bufio.Writer
	n     uint32 // documents added
	words uint64 // their words, repeats counted

	stats BuildStats
}

// BuildStats counts what a build made.
type BuildStats struct {
	Docs     int
	Postings int64
	Nodes    int // nodes inserted
	Bytes    int64
	Runs     int // run files spilled
}

type spill struct {
	word          string
	doc, tf, size uint32
}

func newBuilder(dir string, runPostings int) (*builder, error) {
	if runPostings <= 0 {
		runPostings = DefaultRunPostings
	}
	d, err := os.MkdirTemp(dir, "lethe-index-")
	if err != nil {
		return nil, fmt.Errorf("index: temporary directory: %w", err)
	}
	f, err := os.Create(d + "/docs")
	if err != nil {
		os.RemoveAll(d)
		return nil, fmt.Errorf("index: %w", err)
	}
	o, err := os.Create(d + "/offsets")
	if err != nil {
		f.Close()
		os.RemoveAll(d)
		return nil, fmt.Errorf("index: %w", err)
	}
	return &builder{dir: d, runPostings: runPostings, docs: f, docsW: bufio.NewWriterSize(f, runBuffer),
		offs: o, offsW: bufio.NewWriterSize(o, runBuffer)}, nil
}

// close removes the builder's files.
func (b *builder) close() {
	b.docs.Close()
	b.offs.Close()
	os.RemoveAll(b.dir)
}

// docAt reads the entry of document n back from the documents file.
func (b *builder) docAt(n uint32) (DocInfo, error) {
	var off [16]byte
	if _, err := b.offs.ReadAt(off[:8], int64(n)*8); err != nil {
		return DocInfo{}, fmt.Errorf("index: offsets file: %w", err)
	}
	at := int64(binary.BigEndian.Uint64(off[:8]))
	var head [binary.MaxVarintLen64]byte
	k, err := b.docs.ReadAt(head[:], at)
	if err != nil && !(err == io.EOF && k > 0) {
		return DocInfo{}, fmt.Errorf("index: documents file: %w", err)
	}
	size, m := binary.Uvarint(head[:k])
	if m <= 0 || size > uint64(MaxNode) {
		return DocInfo{}, errors.New("index: documents file damaged")
	}
	enc := make([]byte, size)
	if _, err := b.docs.ReadAt(enc, at+int64(m)); err != nil {
		return DocInfo{}, fmt.Errorf("index: documents file: %w", err)
	}
	rd := &reader{b: enc}
	d := rd.doc("")
	return d, rd.err
}

// DocText is the text of a document as it is indexed: its title, then its text.
func DocText(d Doc) string { return d.Title + "\n" + d.Text }

// docHash is what says that a document changed (spec §21.4).
func docHash(d Doc) [8]byte {
	h := sha256.New()
	h.Write([]byte(d.Title))
	h.Write([]byte{0})
	h.Write([]byte(d.Text))
	var out [8]byte
	copy(out[:], h.Sum(nil))
	return out
}

// Counts returns the words of text and how often each occurs, and the number of words.
func Counts(text string) (map[string]uint32, int) {
	counts := map[string]uint32{}
	n := 0
	eachWord(Normalize(text), func(w string) { counts[w]++; n++ })
	return counts, n
}

// add indexes one document. A document without a word is not added (false): no query
// could find it.
func (b *builder) add(d Doc) (bool, error) {
	if b.n >= MaxSegmentDocs {
		return false, fmt.Errorf("index: a segment holds at most %d documents", MaxSegmentDocs)
	}
	counts, n := Counts(DocText(d))
	if n == 0 {
		return false, nil
	}
	if n > 1<<32-1 {
		return false, fmt.Errorf("index: %v has too many words", d.URI)
	}
	info := DocInfo{URI: d.URI.String(), Title: cut(clean(d.Title), MaxTitle), Snippet: cut(clean(d.Text), snippetWant),
		Length: uint32(n), Hash: docHash(d)}
	enc := appendDoc(nil, &info, "")
	if _, err := b.offsW.Write(binary.BigEndian.AppendUint64(nil, uint64(b.pos))); err != nil {
		return false, fmt.Errorf("index: %w", err)
	}
	head := binary.AppendUvarint(nil, uint64(len(enc)))
	if _, err := b.docsW.Write(head); err != nil {
		return false, fmt.Errorf("index: %w", err)
	}
	if _, err := b.docsW.Write(enc); err != nil {
		return false, fmt.Errorf("index: %w", err)
	}
	b.pos += int64(len(head) + len(enc))
	if need := len(b.buf) + len(counts); need > cap(b.buf) {
		// Grow by doubling, but never past the run's size: a run's postings, not twice
		// them, are what the builder holds.
		b.buf = slices.Grow(b.buf, min(max(need, 2*cap(b.buf)), max(b.runPostings, need))-len(b.buf))
	}
	for w, tf := range counts {
		b.buf = append(b.buf, spill{word: w, doc: b.n, tf: tf, size: uint32(n)})
	}
	b.n++
	b.words += uint64(n)
	b.stats.Docs++
	b.stats.Postings += int64(len(counts))
	if len(b.buf) >= b.runPostings {
		return true, b.spillRun()
	}
	return true, nil
}

// spillRun sorts the postings held and writes them to a run file.
func (b *builder) spillRun() error {
	if len(b.buf) == 0 {
		return nil
	}
	slices.SortFunc(b.buf, func(x, y spill) int {
		if c := strings.Compare(x.word, y.word); c != 0 {
			return c
		}
		return cmp.Compare(x.doc, y.doc)
	})
	name := fmt.Sprintf("%s/run%06d", b.dir, len(b.runs))
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	w := bufio.NewWriterSize(f, runBuffer)
	var rec []byte
	for _, s := range b.buf {
		rec = binary.AppendUvarint(rec[:0], uint64(len(s.word)))
		rec = append(rec, s.word...)
		rec = binary.AppendUvarint(rec, uint64(s.doc))
		rec = binary.AppendUvarint(rec, uint64(s.tf))
		rec = binary.AppendUvarint(rec, uint64(s.size))
		w.Write(rec)
	}
	err = w.Flush()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("index: write run: %w", err)
	}
	b.runs = append(b.runs, name)
	b.stats.Runs++
	clear(b.buf)
	b.buf = b.buf[:0]
	return nil
}

// runReader reads a run file record by record.
type runReader struct {
	r   *bufio.Reader
	f   *os.File
	idx int
	cur spill
}

func (rr *runReader) next() (bool, error) {
	n, err := binary.ReadUvarint(rr.r)
	if err == io.EOF {
		return false, nil
	}
	if err != nil || n > MaxWord {
		return false, fmt.Errorf("index: run file damaged: %v", err)
	}
	word := make([]byte, n)
	if _, err := io.ReadFull(rr.r, word); err != nil {
		return false, fmt.Errorf("index: run file damaged: %w", err)
	}
	var v [3]uint64
	for i := range v {
		if v[i], err = binary.ReadUvarint(rr.r); err != nil {
			return false, fmt.Errorf("index: run file damaged: %w", err)
		}
	}
	rr.cur = spill{word: string(word), doc: uint32(v[0]), tf: uint32(v[1]), size: uint32(v[2])}
	return true, nil
}

type runHeap []*runReader

func (h runHeap) Len() int { return len(h) }
func (h runHeap) Less(i, j int) bool {
	if h[i].cur.word != h[j].cur.word {
		return h[i].cur.word < h[j].cur.word
	}
	return h[i].idx < h[j].idx // runs hold increasing documents
}
func (h runHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)   { *h = append(*h, x.(*runReader)) }
func (h *runHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// finish merges the runs into the word tree, writes the document tree and the segment's
// first node, and returns the segment.
func (b *builder) finish(ctx context.Context, p Putter) (Segment, error) {
	if b.n == 0 {
		return Segment{}, errors.New("index: no documents to index")
	}
	if err := b.spillRun(); err != nil {
		return Segment{}, err
	}
	b.buf = nil
	put := func(ctx context.Context, node []byte) (Ref, error) {
		if len(node) > MaxNode {
			panic(fmt.Sprintf("index: node of %d bytes", len(node)))
		}
		u, err := p.Put(ctx, node)
		if err != nil {
			return Ref{}, fmt.Errorf("index: insert node: %w", err)
		}
		b.stats.Nodes++
		b.stats.Bytes += int64(len(node))
		return RefOf(u.WithPath(""))
	}
	if err := b.docsW.Flush(); err != nil {
		return Segment{}, fmt.Errorf("index: %w", err)
	}
	if err := b.offsW.Flush(); err != nil {
		return Segment{}, fmt.Errorf("index: %w", err)
	}
	lw, err := b.wordTree(ctx, put)
	if err != nil {
		return Segment{}, err
	}
	dw, err := b.docTree(ctx, put)
	if err != nil {
		return Segment{}, err
	}
	if lw.leaves == 0 && dw.leaves == 0 {
		// One leaf of each: if they fit one node together, the segment is that node.
		small := &segmentTop{Docs: b.n, Small: true, WordList: lw.pk.pending, DocList: dw.pk.pending}
		if node := seal(kindSmall, smallBody(small)); len(node) <= MaxNode {
			ref, err := put(ctx, node)
			return Segment{Top: ref, Docs: uint64(b.n)}, err
		}
	}
	words, err := lw.finish(ctx)
	if err != nil {
		return Segment{}, err
	}
	table, err := dw.finish(ctx)
	if err != nil {
		return Segment{}, err
	}
	top := &segmentTop{Docs: b.n, Words: words, Table: table}
	node := seal(kindSegment, segmentBody(top))
	for len(node) > MaxNode {
		t := &top.Words
		if treeSize(top.Table) > treeSize(top.Words) {
			t = &top.Table
		}
		if *t, err = raise(ctx, put, *t); err != nil {
			return Segment{}, err
		}
		node = seal(kindSegment, segmentBody(top))
	}
	ref, err := put(ctx, node)
	if err != nil {
		return Segment{}, err
	}
	return Segment{Top: ref, Docs: uint64(b.n)}, nil
}

// wordTree merges the runs, word by word, into leaves. The leaves are inserted as they fill,
// except a segment's only leaf, which waits in case the segment is small.
func (b *builder) wordTree(ctx context.Context, put func(context.Context, []byte) (Ref, error)) (*leafWriter, error) {
	h := runHeap{}
	for i, name := range b.runs {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("index: %w", err)
		}
		defer f.Close()
		rr := &runReader{r: bufio.NewReaderSize(f, runBuffer), f: f, idx: i}
		ok, err := rr.next()
		if err != nil {
			return nil, err
		}
		if ok {
			h = append(h, rr)
		}
	}
	heap.Init(&h)
	leaf := newLeafWriter(put)
	var w *wordWriter
	for h.Len() > 0 {
		rr := h[0]
		s := rr.cur
		if w == nil || w.word != s.word {
			if w != nil {
				if err := leaf.add(ctx, w); err != nil {
					return nil, err
				}
			}
			w = &wordWriter{word: s.word, put: put, docAt: b.docAt, avg: float64(b.words) / float64(b.n)}
		}
		p := Posting{Doc: s.doc, TF: s.tf, Norm: Norm(s.size)}
		w.consider(p)
		if err := w.add(ctx, p); err != nil {
			return nil, err
		}
		ok, err := rr.next()
		if err != nil {
			return nil, err
		}
		if ok {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
	}
	if w != nil {
		if err := leaf.add(ctx, w); err != nil {
			return nil, err
		}
	}
	return leaf, nil
}

// wordWriter collects one word's postings: inline while they are few, then in postings
// nodes as they come, so that a word in every document costs no more memory than one node.
type wordWriter struct {
	word   string
	put    func(context.Context, []byte) (Ref, error)
	docAt  func(uint32) (DocInfo, error)
	avg    float64   // the segment's average document length
	best   []Posting // the champions so far, by weight, at most manyChampions of them
	df     uint32
	cur    []Posting // the postings while they are inline
	size   int       // encoded size of cur
	long   *packer[Posting]
	blocks []postingsRef
}

func postingSize(p Posting, prev uint32, first bool) int {
	d := uint64(p.Doc)
	if !first {
		d = uint64(p.Doc - prev - 1)
	}
	return uvarintLen(d) + uvarintLen(uint64(p.TF-1)) + 1
}

func (w *wordWriter) add(ctx context.Context, p Posting) error {
	w.df++
	if w.long != nil {
		return w.long.add(ctx, p)
	}
	if len(w.cur) == 0 {
		w.size += postingSize(p, 0, true)
	} else {
		w.size += postingSize(p, w.cur[len(w.cur)-1].Doc, false)
	}
	w.cur = append(w.cur, p)
	if w.size <= inlineLimit {
		return nil
	}
	// From here on the postings go to nodes of their own.
	w.long = &packer[Posting]{kind: kindPostings, encode: postingsBody,
		size: func(before []Posting, p Posting) int {
			if len(before) == 0 {
				return postingSize(p, 0, true)
			}
			return postingSize(p, before[len(before)-1].Doc, false)
		},
		emit: func(ctx context.Context, ps []Posting, node []byte) error {
			ref, err := w.put(ctx, node)
			w.blocks = append(w.blocks, postingsRef{First: ps[0].Doc, Count: uint32(len(ps)), Ref: ref})
			return err
		}}
	held := w.cur
	w.cur, w.size = nil, 0
	for _, q := range held {
		if err := w.long.add(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// weight orders a word's postings as BM25 does within the segment (the idf is the same for
// all of them): the builder's choice of champions, not part of the format.
func (w *wordWriter) weight(p Posting) float64 { return Weight(1, p.TF, p.Norm, w.avg) }

// consider keeps p if it is among the word's heaviest postings so far.
func (w *wordWriter) consider(p Posting) {
	i, _ := slices.BinarySearchFunc(w.best, p, func(a, b Posting) int { return cmp.Compare(w.weight(b), w.weight(a)) })
	if i >= manyChampions {
		return
	}
	w.best = slices.Insert(w.best, i, p)
	if len(w.best) > manyChampions {
		w.best = w.best[:manyChampions]
	}
}

// entry ends the word and returns its leaf entry.
func (w *wordWriter) entry(ctx context.Context) (wordEntry, error) {
	e := wordEntry{Word: w.word, DF: w.df}
	if c := championsFor(w.df); c > 0 {
		best := slices.Clone(w.best[:min(len(w.best), c)])
		slices.SortFunc(best, func(a, b Posting) int { return cmp.Compare(a.Doc, b.Doc) })
		for _, p := range best {
			info, err := w.docAt(p.Doc)
			if err != nil {
				return wordEntry{}, err
			}
			e.Champions = append(e.Champions, champion{Doc: p.Doc, Info: info})
		}
	}
	if w.long == nil {
		e.Postings = w.cur
		return e, nil
	}
	if err := w.long.flush(ctx); err != nil {
		return wordEntry{}, err
	}
	e.Blocks = w.blocks
	return e, nil
}

// championTiers: a word in at least df documents carries n champions, the first tier that
// applies (spec §21.3.4). Measured on the 12,000 documents of the long search test
// (docs/performance.md, "Search"): with champions for words in 32 documents and more, a
// cold two-word query finds its ten best documents beside its words for most queries, and
// fetches at most 11 blocks where champions only from 256 documents up needed 13.
var championTiers = []struct{ df, n uint32 }{{1024, manyChampions}, {256, 20}, {32, 10}}

// championsFor is how many champions a word in df documents carries: the builder's choice,
// not the format's. The best answers to a query of common words are spread over the whole
// document table and would each cost a leaf; its champions hold them beside the word.
func championsFor(df uint32) int {
	for _, t := range championTiers {
		if df >= t.df {
			return int(min(t.n, df))
		}
	}
	return 0
}

// leafWriter packs word entries into leaves, and names each leaf in the levels above.
type leafWriter struct {
	pk     *packer[wordEntry]
	up     *levels
	leaves int // leaves inserted
}

func newLeafWriter(put func(context.Context, []byte) (Ref, error)) *leafWriter {
	l := &leafWriter{up: &levels{put: put}}
	l.pk = &packer[wordEntry]{kind: kindWords, encode: wordsBody,
		size: func(_ []wordEntry, e wordEntry) int { return len(appendWordEntry(nil, &e)) },
		emit: func(ctx context.Context, es []wordEntry, node []byte) error {
			ref, err := put(ctx, node)
			if err != nil {
				return err
			}
			l.leaves++
			return l.up.add(ctx, 0, entry{Key: es[0].Word, Ref: ref})
		}}
	return l
}

func (l *leafWriter) add(ctx context.Context, w *wordWriter) error {
	e, err := w.entry(ctx)
	if err != nil {
		return err
	}
	return l.pk.add(ctx, e)
}

// finish inserts the leaves still held and returns the tree's top.
func (l *leafWriter) finish(ctx context.Context) (tree, error) {
	if err := l.pk.flush(ctx); err != nil {
		return tree{}, err
	}
	return l.up.finish(ctx)
}

// docTree writes the documents' entries into leaves, in number order. The leaves are
// inserted as they fill, except a segment's only leaf (see wordTree).
func (b *builder) docTree(ctx context.Context, put func(context.Context, []byte) (Ref, error)) (*docWriter, error) {
	if err := b.docsW.Flush(); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	if _, err := b.docs.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	r := bufio.NewReaderSize(b.docs, runBuffer)
	dw := newDocWriter(put)
	for range b.n {
		n, err := binary.ReadUvarint(r)
		if err != nil || n > uint64(MaxNode) {
			return nil, fmt.Errorf("index: documents file damaged: %v", err)
		}
		enc := make([]byte, n)
		if _, err := io.ReadFull(r, enc); err != nil {
			return nil, fmt.Errorf("index: documents file damaged: %w", err)
		}
		rd := &reader{b: enc}
		d := rd.doc("")
		if rd.err != nil {
			return nil, rd.err
		}
		if err := dw.pk.add(ctx, d); err != nil {
			return nil, err
		}
	}
	return dw, nil
}

// docWriter packs documents' entries into leaves, and names each leaf in the levels above.
type docWriter struct {
	pk     *packer[DocInfo]
	up     *levels
	first  uint32 // number of the first document pending
	leaves int
}

func newDocWriter(put func(context.Context, []byte) (Ref, error)) *docWriter {
	d := &docWriter{up: &levels{put: put}}
	d.pk = &packer[DocInfo]{kind: kindDocs,
		encode: func(ds []DocInfo) []byte { return docsBody(d.first, ds) },
		size: func(before []DocInfo, e DocInfo) int {
			prev := ""
			if len(before) > 0 {
				prev = before[len(before)-1].URI
			}
			return len(appendDoc(nil, &e, prev))
		},
		emit: func(ctx context.Context, ds []DocInfo, node []byte) error {
			ref, err := put(ctx, node)
			if err != nil {
				return err
			}
			key := binary.BigEndian.AppendUint32(nil, d.first)
			d.first += uint32(len(ds))
			d.leaves++
			return d.up.add(ctx, 0, entry{Key: string(key), Ref: ref})
		}}
	return d
}

// finish inserts the leaves still held and returns the tree's top.
func (d *docWriter) finish(ctx context.Context) (tree, error) {
	if err := d.pk.flush(ctx); err != nil {
		return tree{}, err
	}
	return d.up.finish(ctx)
}

// clean makes text one line: runs of spaces and control characters become one space.
func clean(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// cut shortens s to at most max bytes, at a space if there is one in the last third, and
// marks the cut with an ellipsis.
func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const ell = "…"
	end := max - len(ell)
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	if i := strings.LastIndexByte(s[:end], ' '); i > end*2/3 {
		end = i
	}
	return s[:end] + ell
}
