package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"lethe/crypto"
	"lethe/metadata"
	"lethe/session"
)

// Reader streams content as its segments arrive: the first bytes are readable once the first
// segment is in, long before the whole file is. Close stops the fetch and waits for its
// goroutines.
type Reader struct {
	r        io.Reader
	mimeType string
	size     int64

	cancel    context.CancelFunc
	pipe      *io.PipeReader // the splitfile stream, if any
	done      chan struct{}  // closed when the splitfile fetch has returned
	closers   []io.Closer
	closeOnce sync.Once
	fetchErr  atomic.Pointer[error] // why the splitfile fetch stopped, if it failed
}

// ContentType is the MIME type the metadata records.
func (r *Reader) ContentType() string { return r.mimeType }

// Size is the length of the content in bytes.
func (r *Reader) Size() int64 { return r.size }

// Read reads content. Every byte has been verified; an error says why the rest cannot be.
func (r *Reader) Read(p []byte) (int, error) { return r.r.Read(p) }

// Close stops the fetch if it is still running and releases everything it holds.
func (r *Reader) Close() error {
	r.closeOnce.Do(func() {
		r.cancel()
		if r.pipe != nil {
			r.pipe.Close()
			<-r.done
		}
		for _, c := range r.closers {
			c.Close()
		}
	})
	return nil
}

// Result describes content fetched to a writer.
type Result struct {
	ContentType string
	Size        int64
}

// Fetch writes the content uri names to w.
func (f *Fetcher) Fetch(ctx context.Context, uri crypto.RequestURI, w io.Writer) (Result, error) {
	ctx = session.Start(ctx) // its blocks travel as one session (package session)
	r, err := f.Open(ctx, uri)
	if err != nil {
		return Result{}, err
	}
	defer r.Close()
	if _, err := io.Copy(w, r); err != nil {
		return Result{}, err
	}
	return Result{ContentType: r.ContentType(), Size: r.Size()}, nil
}

// Open resolves uri (see Resolve) and returns a Reader of the file it names.
func (f *Fetcher) Open(ctx context.Context, uri crypto.RequestURI) (*Reader, error) {
	ctx = session.Start(ctx) // its blocks travel as one session (package session)
	doc, err := f.Resolve(ctx, uri)
	if err != nil {
		return nil, err
	}
	if doc.Kind == metadata.KindManifest {
		return nil, fmt.Errorf("%w: %v", ErrIsDirectory, uri)
	}
	return f.OpenDocument(ctx, doc)
}

// OpenDocument returns a Reader of the file doc (an Inline or Splitfile document, as Resolve
// returns) describes.
func (f *Fetcher) OpenDocument(ctx context.Context, doc *metadata.Document) (*Reader, error) {
	ctx = session.Start(ctx) // its blocks travel as one session (package session)
	if doc.Kind != metadata.KindInline && doc.Kind != metadata.KindSplitfile && doc.Kind != metadata.KindParts || doc.Metadata {
		return nil, fmt.Errorf("fetch: a %v document is not a file", doc.Kind)
	}
	if doc.Size > f.cfg.MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, doc.Size, f.cfg.MaxSize)
	}
	if doc.Age && len(f.cfg.Identities) == 0 {
		return nil, ErrEncrypted
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &Reader{mimeType: doc.MIMEType, size: doc.Size, cancel: cancel}
	var raw io.Reader
	if doc.Kind == metadata.KindInline {
		raw = bytes.NewReader(doc.Data)
	} else {
		// The stored stream is at most a little longer than the content: compression is used
		// only where it shrinks, and age adds 16 bytes per 64 KiB and a header.
		length := metadata.PartsLength(doc.Parts)
		if doc.Split != nil {
			length = doc.Split.Length
		}
		if limit := f.cfg.MaxSize + f.cfg.MaxSize/64 + 1<<20; length > limit {
			cancel()
			return nil, fmt.Errorf("%w: stored stream of %d bytes", ErrTooLarge, length)
		}
		pr, pw := io.Pipe()
		r.pipe, r.done = pr, make(chan struct{})
		go func() {
			defer close(r.done)
			err := f.fetchStream(ctx, doc, pw, 0)
			if err != nil {
				r.fetchErr.Store(&err)
			}
			pw.CloseWithError(err)
		}()
		raw = pr
	}
	if doc.Age {
		dr, err := crypto.DecryptWith(raw, bytes.NewReader(f.cfg.Identities))
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("fetch: %w", err)
		}
		raw = dr
	}
	if doc.Codec != metadata.CodecNone {
		dec, err := metadata.NewDecompressor(raw, doc.Codec)
		if err != nil {
			r.Close()
			return nil, err
		}
		r.closers = append(r.closers, dec)
		raw = dec
	}
	r.r = &exactReader{r: raw, left: doc.Size, f: f, src: r}
	return r, nil
}

// fetchStream writes the stored stream of a splitfile or parts document to w: a part at a
// time, each part's splitfile resolved from its own top block when its turn comes, so that
// only one part's keys are held at once (spec §12.2, kind 5). depth counts parts documents
// within parts documents.
func (f *Fetcher) fetchStream(ctx context.Context, doc *metadata.Document, w io.Writer, depth int) error {
	if doc.Kind == metadata.KindSplitfile {
		return f.fetchSplit(ctx, doc.Split, w)
	}
	if depth >= maxPartsDepth {
		return fmt.Errorf("%w: parts nested deeper than %d", ErrCorrupt, maxPartsDepth)
	}
	for i, p := range doc.Parts {
		part, err := f.Resolve(ctx, p.URI())
		if err != nil {
			return fmt.Errorf("part %d of %d: %w", i, len(doc.Parts), err)
		}
		var length int64
		switch {
		case part.Kind == metadata.KindSplitfile && !part.Metadata:
			length = part.Split.Length
		case part.Kind == metadata.KindParts:
			length = metadata.PartsLength(part.Parts)
		default:
			return fmt.Errorf("%w: part %d is a %v document", ErrCorrupt, i, part.Kind)
		}
		if part.Codec != metadata.CodecNone || part.Age || part.MIMEType != "" || length != p.Length {
			return fmt.Errorf("%w: part %d is not a plain stream of the %d bytes its parent states", ErrCorrupt, i, p.Length)
		}
		if err := f.fetchStream(ctx, part, w, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// maxPartsDepth bounds parts documents within parts documents (each level multiplies the
// length by up to MaxParts, so 4 levels reach past the format's MaxSize).
const maxPartsDepth = 4

// exactReader hands out exactly the number of bytes the metadata states: a stream that ends
// early or runs on is corrupt, and so is whatever decompression or decryption fails on.
type exactReader struct {
	r    io.Reader
	left int64
	f    *Fetcher
	src  *Reader
	err  error
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.left == 0 {
		// The content is complete; the stream must end here.
		var one [1]byte
		n, err := io.ReadFull(e.r, one[:])
		switch {
		case n > 0:
			e.err = fmt.Errorf("%w: content runs past its stated size", ErrCorrupt)
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			e.err = io.EOF
		default:
			e.err = e.wrap(err)
		}
		return 0, e.err
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if n > 0 {
		e.f.report(func(pr *Progress) { pr.Bytes += int64(n) })
	}
	if err == io.EOF && e.left > 0 {
		e.err = fmt.Errorf("%w: content ends %d bytes short of its stated size", ErrCorrupt, e.left)
		return n, e.err
	}
	if err != nil && err != io.EOF {
		e.err = e.wrap(err)
		return n, e.err
	}
	return n, nil
}

// wrap classifies an error from the layers below: fetch errors pass through; anything the
// decryption or decompression says about the stream means the content is corrupt.
func (e *exactReader) wrap(err error) error {
	// Layers above the splitfile (age, zstd) may not wrap the error the fetch stopped with;
	// that error is the one that says what happened.
	if fe := e.src.fetchErr.Load(); fe != nil {
		return *fe
	}
	var se *SegmentError
	if errors.As(err, &se) || errors.Is(err, ErrBlockNotFound) || errors.Is(err, ErrCorrupt) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrClosedPipe) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrCorrupt, err)
}
