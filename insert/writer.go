package insert

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"lethe/crypto"
	"lethe/metadata"
	"lethe/session"
)

// inserter is what one insert call shares between its files: the putter, the settings and
// the progress counters.
type inserter struct {
	p   BlockPutter
	cfg Config

	mu       sync.Mutex // guards progress and serialises cfg.Progress calls
	progress Progress
}

func newInserter(p BlockPutter, cfg Config) *inserter {
	return &inserter{p: p, cfg: cfg.withDefaults()}
}

// report updates the progress under the lock and hands a snapshot to the callback.
func (in *inserter) report(update func(*Progress)) {
	in.mu.Lock()
	defer in.mu.Unlock()
	update(&in.progress)
	if in.cfg.Progress != nil {
		in.cfg.Progress(in.progress)
	}
}

// put hands one block to the putter, retrying a failure that is not a collision.
func (in *inserter) put(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	var err error
	for attempt := 0; attempt <= in.cfg.Retries; attempt++ {
		if err = in.p.PutBlock(ctx, kt, rk, block); err == nil {
			in.report(func(p *Progress) { p.BlocksInserted++ })
			return nil
		}
		if errors.Is(err, crypto.ErrCollision) || ctx.Err() != nil {
			break
		}
		in.cfg.Logger.Debug("insert: block refused, retrying", "key", rk, "attempt", attempt, "err", err)
	}
	return fmt.Errorf("insert %v block %v: %w", kt, rk, err)
}

// Writer inserts the bytes written to it. Close finishes the insert; URI then names the
// content. Writer holds at most a few segments of content in memory, whatever its size.
type Writer struct {
	ctx    context.Context
	in     *inserter
	target crypto.InsertURI
	top    bool   // store a top block on Close; false for the entries of a directory
	name   string // to choose the MIME type from, if none was given

	head   []byte    // content held back until the MIME type and codec are chosen
	chain  io.Writer // compressor → age → parts → stream, once chosen
	layers []io.Closer
	stream *stream
	parts  parts             // the pieces of a stored stream longer than one splitfile takes
	doc    metadata.Document // the content header, once chosen
	size   int64
	uri    crypto.RequestURI
	result *metadata.Document // the document of a directory entry
	err    error              // sticky
	closed bool
}

// NewWriter starts inserting content under target. The recipients, if any, are checked
// before anything is written. Close (or Abort) must be called: the writer runs goroutines
// that encode and insert blocks in the background.
func NewWriter(ctx context.Context, p BlockPutter, target crypto.InsertURI, cfg Config) (*Writer, error) {
	ctx = session.Start(ctx) // its blocks travel as one session (package session)
	if err := checkTarget(target); err != nil {
		return nil, err
	}
	in := newInserter(p, cfg)
	return in.newWriter(ctx, target, true, cfg.Name, cfg.MIMEType)
}

func (in *inserter) newWriter(ctx context.Context, target crypto.InsertURI, top bool, name, mimeType string) (*Writer, error) {
	if len(in.cfg.Recipients) > 0 {
		if err := crypto.CheckAgeRecipients(in.cfg.Recipients); err != nil {
			return nil, fmt.Errorf("insert: %w", err)
		}
	}
	w := &Writer{ctx: ctx, in: in, target: target, top: top, head: make([]byte, 0, 4096)}
	w.doc.MIMEType = mimeType
	if w.doc.MIMEType == "" && len(in.cfg.Recipients) > 0 {
		w.doc.MIMEType = metadata.DefaultMIMEType
	}
	w.doc.Age = len(in.cfg.Recipients) > 0
	if w.doc.MIMEType == "" {
		w.name = name
	}
	return w, nil
}

// Write takes more content. It blocks while the blocks already made wait to be inserted.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errors.New("insert: write after close")
	}
	if w.err != nil {
		return 0, w.err
	}
	n := len(p)
	w.size += int64(n)
	w.in.report(func(pr *Progress) { pr.Bytes += int64(n) })
	if w.chain == nil {
		take := min(len(p), metadata.SampleSize-len(w.head))
		w.head = append(w.head, p[:take]...)
		p = p[take:]
		if len(w.head) < metadata.SampleSize {
			return n, nil
		}
		if w.err = w.choose(); w.err != nil {
			return 0, w.err
		}
	}
	if len(p) > 0 {
		if _, err := w.chain.Write(p); err != nil {
			w.err = err
			return 0, err
		}
	}
	return n, nil
}

// choose fixes the MIME type and codec from the content held back, builds the chain of
// layers, and sends the held-back bytes down it.
func (w *Writer) choose() error {
	if w.doc.MIMEType == "" {
		w.doc.MIMEType = metadata.MIMEType(w.name, w.head)
	}
	if w.in.cfg.Compression == CompressAuto && metadata.Compressible(w.head) {
		w.doc.Codec = metadata.CodecZstd
	}
	// The top block holds the header and, if the content is small enough, the content.
	inlineMax := metadata.BlockSize - inlineHeader - len(w.doc.MIMEType)
	w.stream = newStream(w.ctx, w.in, inlineMax)
	w.parts = parts{w: w, max: w.in.cfg.partBytes()}
	w.chain = &w.parts
	if w.doc.Age {
		aw, err := crypto.EncryptTo(w.chain, w.in.cfg.Recipients)
		if err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		w.chain = aw
		w.layers = append(w.layers, aw)
	}
	if w.doc.Codec != metadata.CodecNone {
		cw, err := metadata.NewCompressor(w.chain, w.doc.Codec)
		if err != nil {
			return err
		}
		w.chain = cw
		w.layers = append(w.layers, cw)
	}
	head := w.head
	w.head = nil
	if _, err := w.chain.Write(head); err != nil {
		return err
	}
	return nil
}

// inlineHeader is the size of a document's fixed fields before inline data (spec §12.2):
// version, kind, flags, codec, MIME length, size.
const inlineHeader = 2 + 1 + 1 + 1 + 8

// Close finishes the content: the last blocks, the metadata, the top block. It returns once
// every block has been inserted, or the first error.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err == nil && w.chain == nil {
		w.err = w.choose()
	}
	if w.err != nil {
		w.Abort()
		return w.err
	}
	// Close the layers outermost first: the compressor flushes into age, age into the
	// stream.
	for i := len(w.layers) - 1; i >= 0; i-- {
		if err := w.layers[i].Close(); err != nil {
			w.err = err
			w.stream.abort(err)
			return err
		}
	}
	inline, split, err := w.stream.finish()
	if err == nil && len(w.parts.done) > 0 {
		err = w.parts.add(split) // the last part
	}
	if err != nil {
		w.err = err
		return err
	}
	doc := w.doc
	doc.Size = w.size
	switch {
	case len(w.parts.done) > 0:
		doc.Kind, doc.Parts = metadata.KindParts, w.parts.done
	case split != nil:
		doc.Kind, doc.Split = metadata.KindSplitfile, split
	default:
		doc.Kind, doc.Data = metadata.KindInline, inline
	}
	if !w.top {
		w.result = &doc
		return nil
	}
	w.uri, w.err = w.in.storeTop(w.ctx, w.target, &doc)
	if w.err == nil {
		w.in.report(func(p *Progress) { p.Done = true })
	}
	return w.err
}

// Abort stops the insert and releases its goroutines. Blocks already inserted stay in the
// network, unreachable without the URI that was never made.
func (w *Writer) Abort() {
	w.closed = true
	if w.err == nil {
		w.err = errors.New("insert: aborted")
	}
	if w.stream != nil {
		w.stream.abort(w.err)
	}
}

// URI returns the URI of the content after a successful Close.
func (w *Writer) URI() crypto.RequestURI { return w.uri }
