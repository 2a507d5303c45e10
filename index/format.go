package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"lethe/crypto"
)

// Format constants (spec §21.3).
const (
	// Version is the format's version (spec §21.3). Version 1 stored nodes uncompressed and
	// postings with exact lengths; a reader of version 2 refuses its nodes with ErrVersion.
	Version = 2
	// MIMEType marks an index's root file, so that a reader (the proxy's search page) can
	// tell an index from a site among its bookmarks.
	MIMEType = "application/x-lethe-index"
	// MaxNode is the largest encoded node, compressed: with the inline document around it
	// (13 bytes of header and the MIME type) it fills one CHK block, so a node costs one
	// request.
	MaxNode = crypto.CHKDataSize - 13 - len(MIMEType) - 7
	// MaxRoot is the largest root file a reader accepts.
	MaxRoot = 4 << 20
	// MaxSegments is the most segments one edition may list.
	MaxSegments = 64
	// MaxSegmentDocs is the most documents in one segment; a builder starts another past it.
	MaxSegmentDocs = 1 << 20
	MaxTitle       = 200 // bytes of a document's or an index's title
	MaxChampions   = 32  // document entries carried beside one word
	MaxSnippet     = 300 // bytes of a document's snippet
	maxHeight      = 8   // levels of inner nodes a tree may have
)

// Kinds of node.
const (
	kindRoot     = 1
	kindSegment  = 2
	kindInner    = 3
	kindWords    = 4
	kindPostings = 5
	kindDocs     = 6
	kindSmall    = 7
)

// ErrMalformed: bytes that should be an index node are not one (spec §21.3).
var ErrMalformed = errors.New("index: malformed node")

// ErrVersion: the node is of another version of the format, such as an index published by
// an older Lethe, which its author must publish again.
var ErrVersion = errors.New("index: another version of the index format")

// Ref names one node: a CHK whose file is the node (spec §21.3).
type Ref struct {
	Key, Crypto [crypto.KeySize]byte
}

// URI is the CHK URI of the node.
func (r Ref) URI() crypto.RequestURI {
	return crypto.RequestURI{Type: crypto.CHK, Key: r.Key, Crypto: r.Crypto}
}

// RefOf is the Ref of a CHK URI without a path.
func RefOf(u crypto.RequestURI) (Ref, error) {
	if u.Type != crypto.CHK || u.Path != "" {
		return Ref{}, fmt.Errorf("index: a node is a CHK without a path, not %v", u)
	}
	return Ref{Key: u.Key, Crypto: u.Crypto}, nil
}

// Root is an edition of an index: the file at its USK (spec §21.3.1).
type Root struct {
	Title    string
	Docs     uint64    // documents not deleted
	Words    uint64    // words of the documents not deleted, repeats counted
	Segments []Segment // the oldest first; global document numbers follow this order
	Deleted  []uint64  // global numbers of documents no longer in the index, increasing
}

// Segment is one immutable part of an index, built at once.
type Segment struct {
	Top  Ref
	Docs uint64 // documents in the segment, deleted ones included
}

// tree is the top of a tree of nodes: the entries of its highest level.
type tree struct {
	Height  int // 0: the entries name leaves
	Entries []entry
}

// entry is a child of an inner level: the smallest key below it and its node.
type entry struct {
	Key string
	Ref Ref
}

// segmentTop is a segment's first node: the tops of its word tree and document tree, or,
// for a small segment, its words and documents themselves.
type segmentTop struct {
	Docs  uint32
	Words tree
	Table tree // keys: document numbers as 4 big-endian bytes

	Small    bool // the segment is this one node
	WordList []wordEntry
	DocList  []DocInfo
}

// wordEntry is one word of a leaf and its postings, inline or in postings nodes.
type wordEntry struct {
	Word     string
	DF       uint32    // postings in all
	Postings []Posting // inline, when Blocks is empty
	Blocks   []postingsRef
	// Champions are the entries of the documents where the word weighs most, for a word
	// in many documents: a query's best documents are usually among them, and need no
	// document leaf of their own (spec §21.3.4).
	Champions []champion
}

// champion is a document's entry carried beside a word.
type champion struct {
	Doc  uint32
	Info DocInfo
}

// postingsRef names a postings node of a long list.
type postingsRef struct {
	First uint32 // its first document
	Count uint32
	Ref   Ref
}

// Posting says that a document holds a word.
type Posting struct {
	Doc  uint32 // the document's number in its segment
	TF   uint32 // times the word occurs in it
	Norm uint8  // the document's length in words, as a norm (Norm)
}

// DocInfo is what an index says of a document.
type DocInfo struct {
	URI     string // canonical request URI
	Title   string
	Snippet string
	Length  uint32  // words
	Hash    [8]byte // of the indexed text, to see whether a document changed
}

// node is any decoded node.
type node struct {
	kind     byte
	root     *Root
	segment  *segmentTop
	inner    *tree
	words    []wordEntry
	postings []Posting
	first    uint32 // docs: number of the first document
	docs     []DocInfo
}

// ---- encoding ----

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func appendString(b []byte, s string) []byte {
	b = appendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendRef(b []byte, r Ref) []byte {
	b = append(b, r.Key[:]...)
	return append(b, r.Crypto[:]...)
}

func header(kind byte) []byte { return []byte{Version, kind} }

// Encode encodes a root. A root is the one node stored uncompressed: it is small, and
// mostly references, which do not compress.
func (r *Root) Encode() []byte {
	b := header(kindRoot)
	b = appendString(b, r.Title)
	b = appendUvarint(b, r.Docs)
	b = appendUvarint(b, r.Words)
	b = appendUvarint(b, uint64(len(r.Segments)))
	for _, s := range r.Segments {
		b = appendRef(b, s.Top)
		b = appendUvarint(b, s.Docs)
	}
	b = appendUvarint(b, uint64(len(r.Deleted)))
	prev := uint64(0)
	for i, d := range r.Deleted {
		if i == 0 {
			b = appendUvarint(b, d)
		} else {
			b = appendUvarint(b, d-prev-1)
		}
		prev = d
	}
	return b
}

func appendTree(b []byte, t tree) []byte {
	b = appendUvarint(b, uint64(t.Height))
	b = appendUvarint(b, uint64(len(t.Entries)))
	for _, e := range t.Entries {
		b = appendString(b, e.Key)
		b = appendRef(b, e.Ref)
	}
	return b
}

func entrySize(e entry) int { return uvarintLen(uint64(len(e.Key))) + len(e.Key) + 2*crypto.KeySize }

// The bodies of the nodes other than the root, before they are compressed (seal).

func segmentBody(s *segmentTop) []byte {
	b := appendUvarint(nil, uint64(s.Docs))
	b = appendTree(b, s.Words)
	return appendTree(b, s.Table)
}

func smallBody(s *segmentTop) []byte {
	b := appendUvarint(nil, uint64(s.Docs))
	b = appendUvarint(b, uint64(len(s.WordList)))
	for i := range s.WordList {
		b = appendWordEntry(b, &s.WordList[i])
	}
	prev := ""
	for i := range s.DocList {
		b = appendDoc(b, &s.DocList[i], prev)
		prev = s.DocList[i].URI
	}
	return b
}

func innerBody(t tree) []byte { return appendTree(nil, t) }

func appendPostings(b []byte, ps []Posting) []byte {
	prev := uint32(0)
	for i, p := range ps {
		if i == 0 {
			b = appendUvarint(b, uint64(p.Doc))
		} else {
			b = appendUvarint(b, uint64(p.Doc-prev-1))
		}
		prev = p.Doc
		b = appendUvarint(b, uint64(p.TF-1))
		b = append(b, p.Norm)
	}
	return b
}

// Forms of a word entry: bit 0 says the postings are in postings nodes, bit 1 that
// champions follow.
const (
	formLong      = 1
	formChampions = 2
)

func appendWordEntry(b []byte, e *wordEntry) []byte {
	b = appendString(b, e.Word)
	b = appendUvarint(b, uint64(e.DF))
	form := byte(0)
	if len(e.Blocks) > 0 {
		form |= formLong
	}
	if len(e.Champions) > 0 {
		form |= formChampions
	}
	b = append(b, form)
	if len(e.Blocks) == 0 {
		b = appendPostings(b, e.Postings)
	} else {
		b = appendUvarint(b, uint64(len(e.Blocks)))
		for _, pr := range e.Blocks {
			b = appendUvarint(b, uint64(pr.First))
			b = appendUvarint(b, uint64(pr.Count))
			b = appendRef(b, pr.Ref)
		}
	}
	if len(e.Champions) > 0 {
		b = appendUvarint(b, uint64(len(e.Champions)))
		prev, prevURI := uint32(0), ""
		for i, c := range e.Champions {
			if i == 0 {
				b = appendUvarint(b, uint64(c.Doc))
			} else {
				b = appendUvarint(b, uint64(c.Doc-prev-1))
			}
			b = appendDoc(b, &c.Info, prevURI)
			prev, prevURI = c.Doc, c.Info.URI
		}
	}
	return b
}

func wordsBody(es []wordEntry) []byte {
	b := appendUvarint(nil, uint64(len(es)))
	for i := range es {
		b = appendWordEntry(b, &es[i])
	}
	return b
}

func postingsBody(ps []Posting) []byte {
	b := appendUvarint(nil, uint64(len(ps)))
	return appendPostings(b, ps)
}

// appendDoc appends a document entry; its URI is front-coded against prev, the URI of the
// entry before it in the node ("" for the first): the bytes they share, then the rest.
func appendDoc(b []byte, d *DocInfo, prev string) []byte {
	p := commonPrefix(prev, d.URI)
	b = appendUvarint(b, uint64(p))
	b = appendString(b, d.URI[p:])
	b = appendString(b, d.Title)
	b = appendString(b, d.Snippet)
	b = appendUvarint(b, uint64(d.Length))
	return append(b, d.Hash[:]...)
}

func docsBody(first uint32, ds []DocInfo) []byte {
	b := appendUvarint(nil, uint64(first))
	b = appendUvarint(b, uint64(len(ds)))
	prev := ""
	for i := range ds {
		b = appendDoc(b, &ds[i], prev)
		prev = ds[i].URI
	}
	return b
}

// commonPrefix is the length of the longest common prefix of a and b that ends at a
// character boundary of b, so that the rest is UTF-8 on its own.
func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	for n > 0 && n < len(b) && !utf8.RuneStart(b[n]) {
		n--
	}
	return n
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// ---- decoding ----

// reader decodes strictly: canonical varints, counts checked against the bytes left before
// anything is allocated, no trailing bytes.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
		r.b = nil
	}
}

func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || n != uvarintLen(v) {
		r.fail("%s: bad or non-minimal varint", what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// u32 reads a varint that must fit 32 bits.
func (r *reader) u32(what string) uint32 {
	v := r.uvarint(what)
	if v > 1<<32-1 {
		r.fail("%s: %d is too large", what, v)
		return 0
	}
	return uint32(v)
}

// count reads a count of items that take at least min bytes each.
func (r *reader) count(what string, min int) int {
	v := r.uvarint(what)
	if r.err == nil && v > uint64(len(r.b)/min) {
		r.fail("%s: %d do not fit the %d bytes left", what, v, len(r.b))
		return 0
	}
	return int(v)
}

func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.fail("%s: needs %d bytes, %d left", what, n, len(r.b))
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) text(what string, max int) string {
	n := r.uvarint(what)
	if r.err == nil && n > uint64(max) {
		r.fail("%s: %d bytes, at most %d", what, n, max)
		return ""
	}
	s := string(r.take(int(n), what))
	if r.err == nil && !utf8.ValidString(s) {
		r.fail("%s is not UTF-8", what)
	}
	return s
}

// raw reads a length-prefixed byte string of at most max bytes.
func (r *reader) raw(what string, max int) string {
	n := r.uvarint(what)
	if r.err == nil && n > uint64(max) {
		r.fail("%s: %d bytes, at most %d", what, n, max)
		return ""
	}
	return string(r.take(int(n), what))
}

func (r *reader) ref(what string) Ref {
	var ref Ref
	copy(ref.Key[:], r.take(crypto.KeySize, what))
	copy(ref.Crypto[:], r.take(crypto.KeySize, what))
	return ref
}

// decodeNode decodes any node; want, if not zero, is the kind the caller expects.
func decodeNode(b []byte, want byte) (*node, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	if b[0] != Version {
		return nil, fmt.Errorf("%w: version %d, this reader knows %d: the index was published by another version of Lethe, and its author must publish it again with `lethe index`", ErrVersion, b[0], Version)
	}
	kind := b[1]
	if want != 0 && kind != want {
		return nil, fmt.Errorf("%w: a node of kind %d where kind %d belongs", ErrMalformed, kind, want)
	}
	body := b[2:]
	if kind != kindRoot {
		if len(b) > MaxNode {
			return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformed, len(b), MaxNode)
		}
		var err error
		if body, err = unseal(body); err != nil {
			return nil, err
		}
	}
	r := &reader{b: body}
	n := &node{kind: kind}
	switch kind {
	case kindRoot:
		n.root = r.root()
	case kindSegment:
		n.segment = &segmentTop{Docs: r.u32("documents")}
		n.segment.Words = r.tree(wordKey)
		n.segment.Table = r.tree(docKey)
	case kindSmall:
		n.kind = kindSegment // read as a segment's first node
		docs := r.u32("documents")
		seg := &segmentTop{Docs: docs, Small: true, WordList: r.words()}
		if r.err == nil && uint64(docs) > uint64(len(r.b)/12) {
			r.fail("%d documents do not fit", docs)
		}
		prev := ""
		for range docs {
			if r.err != nil {
				break
			}
			d := r.doc(prev)
			seg.DocList = append(seg.DocList, d)
			prev = d.URI
		}
		n.segment = seg
	case kindInner:
		t := r.tree(nil)
		n.inner = &t
	case kindWords:
		n.words = r.words()
	case kindPostings:
		c := r.count("postings", 3)
		n.postings = r.postings(c, "postings")
	case kindDocs:
		n.first = r.u32("first document")
		n.docs = r.docs()
		if r.err == nil && uint64(n.first)+uint64(len(n.docs)) > 1<<32 {
			r.fail("document numbers run past 2^32")
		}
	default:
		return nil, fmt.Errorf("%w: unknown kind %d", ErrMalformed, kind)
	}
	if r.err == nil && len(r.b) > 0 {
		r.fail("%d bytes after the node", len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	return n, nil
}

func (r *reader) root() *Root {
	root := &Root{Title: r.text("title", MaxTitle)}
	root.Docs = r.uvarint("documents")
	root.Words = r.uvarint("words")
	ns := r.count("segments", 2*crypto.KeySize+1)
	if ns > MaxSegments {
		r.fail("%d segments, at most %d", ns, MaxSegments)
		return nil
	}
	total := uint64(0)
	for range ns {
		s := Segment{Top: r.ref("segment"), Docs: r.uvarint("segment documents")}
		if r.err == nil && (s.Docs == 0 || s.Docs > MaxSegmentDocs) {
			r.fail("a segment of %d documents", s.Docs)
		}
		total += s.Docs
		root.Segments = append(root.Segments, s)
	}
	nd := r.count("deleted documents", 1)
	prev := uint64(0)
	for i := range nd {
		d := r.uvarint("deleted document")
		if i > 0 {
			d += prev + 1
			if d <= prev {
				r.fail("deleted documents overflow")
			}
		}
		if r.err == nil && d >= total {
			r.fail("deleted document %d of %d", d, total)
		}
		root.Deleted = append(root.Deleted, d)
		prev = d
	}
	if r.err == nil && root.Docs != total-uint64(nd) {
		r.fail("%d documents, but the segments hold %d of which %d are deleted", root.Docs, total, nd)
	}
	return root
}

// tree reads a tree's top; checkKey, if set, checks every key.
func (r *reader) tree(checkKey func(string) bool) tree {
	t := tree{Height: int(r.uvarint("height"))}
	if r.err == nil && t.Height > maxHeight {
		r.fail("height %d, at most %d", t.Height, maxHeight)
	}
	n := r.count("entries", 1+2*crypto.KeySize)
	for i := range n {
		e := entry{Key: r.raw("key", MaxWord), Ref: r.ref("child")}
		if r.err != nil {
			return t
		}
		if i > 0 && e.Key <= t.Entries[i-1].Key {
			r.fail("keys out of order at entry %d", i)
		}
		if checkKey != nil && !checkKey(e.Key) {
			r.fail("key %q is not a key of this tree", e.Key)
		}
		t.Entries = append(t.Entries, e)
	}
	return t
}

func wordKey(s string) bool { return validWord(s) }
func docKey(s string) bool  { return len(s) == 4 }

func (r *reader) words() []wordEntry {
	n := r.count("words", 4)
	out := make([]wordEntry, 0, n)
	for i := range n {
		e := wordEntry{Word: r.text("word", MaxWord)}
		e.DF = r.u32("postings")
		if r.err != nil {
			return nil
		}
		if !validWord(e.Word) || i > 0 && e.Word <= out[i-1].Word {
			r.fail("word %d (%q) is not a word or out of order", i, e.Word)
			return nil
		}
		if e.DF == 0 {
			r.fail("word %q has no postings", e.Word)
			return nil
		}
		formb := r.take(1, "form")
		if r.err != nil {
			return nil
		}
		form := formb[0]
		if form&^(formLong|formChampions) != 0 {
			r.fail("word %q: unknown form %d", e.Word, form)
			return nil
		}
		switch {
		case form&formLong == 0:
			if uint64(e.DF) > uint64(len(r.b)/3) {
				r.fail("word %q: %d postings do not fit", e.Word, e.DF)
				return nil
			}
			e.Postings = r.postings(int(e.DF), e.Word)
		default:
			nb := r.count("postings nodes", 2+2*crypto.KeySize)
			if nb < 1 {
				r.fail("word %q: a long list of %d nodes", e.Word, nb)
				return nil
			}
			sum := uint64(0)
			for j := range nb {
				pr := postingsRef{First: r.u32("first"), Count: r.u32("count"), Ref: r.ref("postings node")}
				if r.err != nil {
					return nil
				}
				if pr.Count == 0 || j > 0 && uint64(pr.First) < uint64(e.Blocks[j-1].First)+uint64(e.Blocks[j-1].Count) {
					r.fail("word %q: postings nodes overlap or are empty", e.Word)
					return nil
				}
				sum += uint64(pr.Count)
				e.Blocks = append(e.Blocks, pr)
			}
			if sum != uint64(e.DF) {
				r.fail("word %q: %d postings, the nodes hold %d", e.Word, e.DF, sum)
				return nil
			}
		}
		if form&formChampions != 0 {
			nc := r.count("champions", 14)
			if r.err == nil && (nc < 1 || nc > MaxChampions || uint32(nc) > e.DF) {
				r.fail("word %q: %d champions", e.Word, nc)
				return nil
			}
			prev, prevURI := uint64(0), ""
			for j := range nc {
				d := r.uvarint("champion")
				if j > 0 {
					d += prev + 1
				}
				info := r.doc(prevURI)
				if r.err != nil {
					return nil
				}
				if d > 1<<32-1 {
					r.fail("word %q: champion %d out of range", e.Word, d)
					return nil
				}
				e.Champions = append(e.Champions, champion{Doc: uint32(d), Info: info})
				prev, prevURI = d, info.URI
			}
		}
		out = append(out, e)
	}
	return out
}

func (r *reader) postings(n int, what string) []Posting {
	if r.err != nil {
		return nil
	}
	out := make([]Posting, 0, n)
	prev := uint64(0)
	for i := range n {
		d := r.uvarint(what)
		if i > 0 {
			d += prev + 1
		}
		tf := r.uvarint(what) + 1
		norm := r.take(1, what)
		if r.err != nil {
			return nil
		}
		if d > 1<<32-1 || tf > 1<<32-1 {
			r.fail("%s: posting %d out of range", what, i)
			return nil
		}
		out = append(out, Posting{Doc: uint32(d), TF: uint32(tf), Norm: norm[0]})
		prev = d
	}
	return out
}

func (r *reader) docs() []DocInfo {
	n := r.count("documents", 5+8)
	out := make([]DocInfo, 0, n)
	prev := ""
	for range n {
		d := r.doc(prev)
		if r.err != nil {
			return nil
		}
		out = append(out, d)
		prev = d.URI
	}
	return out
}

// doc reads a document entry whose URI is front-coded against prev.
func (r *reader) doc(prev string) DocInfo {
	p := r.uvarint("shared URI bytes")
	if r.err == nil && p > uint64(len(prev)) {
		r.fail("a URI shares %d bytes with one of %d", p, len(prev))
	}
	rest := r.text("URI", crypto.MaxURILength)
	d := DocInfo{}
	if r.err == nil {
		d.URI = prev[:p] + rest
		// One encoding per entry: the shared part is all that the two URIs share.
		if commonPrefix(prev, d.URI) != int(p) {
			r.fail("URI %q does not share exactly %d bytes with the one before", d.URI, p)
		}
	}
	d.Title = r.text("title", MaxTitle)
	d.Snippet = r.text("snippet", MaxSnippet)
	d.Length = r.u32("length")
	copy(d.Hash[:], r.take(8, "hash"))
	if r.err == nil {
		if u, err := crypto.ParseURI(d.URI); err != nil || u.String() != d.URI {
			r.fail("document URI %q is not a canonical request URI", d.URI)
		}
	}
	return d
}

// DecodeRoot decodes an index's root file.
func DecodeRoot(b []byte) (*Root, error) {
	if len(b) > MaxRoot {
		return nil, fmt.Errorf("%w: root of %d bytes, at most %d", ErrMalformed, len(b), MaxRoot)
	}
	n, err := decodeNode(b, kindRoot)
	if err != nil {
		return nil, err
	}
	return n.root, nil
}

// encodeNode encodes any decoded node again (for the round-trip property of the tests).
func encodeNode(n *node) []byte {
	switch n.kind {
	case kindRoot:
		return n.root.Encode()
	case kindSegment:
		if n.segment.Small {
			return seal(kindSmall, smallBody(n.segment))
		}
		return seal(kindSegment, segmentBody(n.segment))
	case kindInner:
		return seal(kindInner, innerBody(*n.inner))
	case kindWords:
		return seal(kindWords, wordsBody(n.words))
	case kindPostings:
		return seal(kindPostings, postingsBody(n.postings))
	case kindDocs:
		return seal(kindDocs, docsBody(n.first, n.docs))
	}
	panic("index: encode of unknown kind")
}
