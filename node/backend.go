package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"

	"lethe/crypto"
	"lethe/fcp"
	"lethe/fetch"
	"lethe/insert"
	"lethe/session"
)

// errShuttingDown: a request arrived, or was still running, while the node stopped.
var errShuttingDown = errors.New("the node is shutting down")

// backend is the node's fcp.Backend: inserts and fetches through the router with the insert
// and fetch libraries (spec §19.5).
type backend struct {
	n *Node
	// insertCtx ends when running inserts must give up (the node's drain time is over);
	// fetchCtx as soon as the node begins to stop.
	insertCtx, fetchCtx context.Context

	mu       sync.Mutex
	inserts  int           // inserts running; guarded by mu
	fetches  int           // fetches running; guarded by mu
	draining bool          // no new request is taken; guarded by mu
	idle     chan struct{} // closed when draining and no insert runs; guarded by mu
}

var _ fcp.Backend = (*backend)(nil)

// begin admits a request, or refuses it if the node is stopping. The returned context ends
// with the request's own or when the node gives up on requests of its kind; end must be
// called once.
func (b *backend) begin(ctx context.Context, isInsert bool) (context.Context, func(), error) {
	b.mu.Lock()
	if b.draining {
		b.mu.Unlock()
		return nil, nil, errShuttingDown
	}
	life := b.fetchCtx
	if isInsert {
		b.inserts++
		life = b.insertCtx
	} else {
		b.fetches++
	}
	b.mu.Unlock()
	// All the blocks of one client request are one session and walk one stem (spec §18.2):
	// a node on it sees all of the request or none of it.
	ctx = session.Start(ctx)
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(life, func() { cancel(errShuttingDown) })
	return ctx, func() {
		stop()
		cancel(nil)
		b.mu.Lock()
		if isInsert {
			b.inserts--
		} else {
			b.fetches--
		}
		if b.draining && b.inserts == 0 && b.idle != nil {
			close(b.idle)
			b.idle = nil
		}
		b.mu.Unlock()
	}, nil
}

// drain refuses new inserts and returns a channel closed once no insert runs.
func (b *backend) drain() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.draining = true
	done := make(chan struct{})
	if b.inserts == 0 {
		close(done)
	} else {
		b.idle = done
	}
	return done
}

// running reports the inserts and fetches in progress.
func (b *backend) running() (inserts, fetches int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inserts, b.fetches
}

// result turns a request's error into what the server reports, naming shutdown as the cause
// when that is what ended it.
func result(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cause := context.Cause(ctx); errors.Is(cause, errShuttingDown) {
		err = fmt.Errorf("%w: %w", errShuttingDown, err)
	}
	return clientError(err)
}

func (b *backend) putter(chkOnly bool) insert.BlockPutter {
	if chkOnly {
		return insert.Discard
	}
	return b.n.net
}

func (b *backend) insertConfig(name, mimeType string, dontCompress bool, rand io.Reader, progress func(fcp.Progress)) insert.Config {
	cfg := insert.Config{
		Name:     name,
		MIMEType: mimeType,
		Rand:     rand,
		Window:   b.n.cfg.InsertWindow,
		Logger:   b.n.log,
		Progress: func(p insert.Progress) {
			progress(fcp.Progress{Total: p.BlocksTotal, Required: p.BlocksTotal, Succeeded: p.BlocksInserted, FinalizedTotal: p.Done})
		},
	}
	if dontCompress {
		cfg.Compression = insert.CompressNever
	}
	return cfg
}

// Put inserts one file. The data is first read to its end (spooled, and hashed for the
// insert's keys, §19.5). A CHK, SSK or KSK insert is then encoded into a block log, its URI
// reported, and the log uploaded (§19.13); a USK insert, whose edition the network decides,
// and GetCHKOnly insert directly.
func (b *backend) Put(ctx context.Context, req fcp.PutRequest, progress func(fcp.Progress)) (crypto.RequestURI, error) {
	ctx, end, err := b.begin(ctx, true)
	if err != nil {
		return crypto.RequestURI{}, clientError(err)
	}
	defer end()
	var sp *spooled
	if req.DataAt != nil {
		sp, err = inPlace(req.DataAt, req.DataLength) // the user's own file: no copy (§19.5)
	} else {
		sp, err = b.n.spool(req.Data, req.DataLength)
	}
	if err != nil {
		return crypto.RequestURI{}, result(ctx, fmt.Errorf("read the data: %w", err))
	}
	defer sp.Close()
	parts := []string{req.URI.String(), req.ContentType, req.TargetFilename, fmt.Sprint(req.DontCompress)}
	run := func(p insert.BlockPutter, progress func(fcp.Progress)) (crypto.RequestURI, error) {
		if req.RedirectTo.Type != 0 {
			rand := b.n.keys.stream("redirect", sp.sum[:], req.URI.String(), req.ContentType, req.RedirectTo.String())
			cfg := b.insertConfig("", req.ContentType, req.DontCompress, rand, progress)
			return insert.Redirect(ctx, p, req.URI, req.RedirectTo, cfg)
		}
		cfg := b.insertConfig(req.TargetFilename, req.ContentType, req.DontCompress, b.n.keys.stream("put", sp.sum[:], parts...), progress)
		return insert.File(ctx, p, req.URI, sp.Reader(), cfg)
	}
	if req.GetCHKOnly || req.URI.Type == crypto.USK || req.RedirectTo.Type != 0 {
		if req.URI.Type != crypto.USK && req.URI.Type != crypto.CHK {
			if u, err := req.URI.RequestURI(); err == nil {
				progress(fcp.Progress{URI: u})
			}
		}
		uri, err := run(b.putter(req.GetCHKOnly), progress)
		return uri, result(ctx, err)
	}
	return b.keyFirst(ctx, b.n.keys.uploadName("put", sp.sum[:], parts...), run, sp.Close, progress)
}

// keyFirst encodes an insert into a block log (run inserts into the putter it is given),
// reports the URI, lets go of the insert's data (release), and follows the upload until the
// network holds it (spec §19.13). If the client goes, the upload goes on without it.
func (b *backend) keyFirst(ctx context.Context, name string, run func(insert.BlockPutter, func(fcp.Progress)) (crypto.RequestURI, error), release func() error, progress func(fcp.Progress)) (crypto.RequestURI, error) {
	// Blocks going into the log are not blocks in the network: the client's progress counts
	// only the upload.
	uri, err := b.n.uploads.encode(name, func(p insert.BlockPutter) (crypto.RequestURI, error) {
		return run(p, func(fcp.Progress) {})
	})
	if errors.Is(err, syscall.ENOSPC) {
		// No room for the block log: the insert goes straight into the network, as a USK
		// insert does, and its URI comes when it ends.
		uri, err := run(b.n.net, progress)
		return uri, result(ctx, err)
	}
	if err != nil {
		return crypto.RequestURI{}, result(ctx, err)
	}
	release()
	progress(fcp.Progress{URI: uri})
	up, err := b.n.uploads.start(name)
	if errors.Is(err, fs.ErrNotExist) {
		return uri, nil // an upload of the same insert finished meanwhile
	}
	if err != nil {
		return crypto.RequestURI{}, result(ctx, err)
	}
	err = up.wait(ctx, func(uploaded, total int64) {
		progress(fcp.Progress{Total: int(total), Required: int(total), Succeeded: int(uploaded), FinalizedTotal: true})
	})
	if err != nil {
		return crypto.RequestURI{}, result(ctx, err)
	}
	return uri, nil
}

// PutDir inserts a site, as Put does a file.
func (b *backend) PutDir(ctx context.Context, req fcp.PutDirRequest, progress func(fcp.Progress)) (crypto.RequestURI, error) {
	ctx, end, err := b.begin(ctx, true)
	if err != nil {
		return crypto.RequestURI{}, clientError(err)
	}
	defer end()
	dir, sum, err := siteDir(req)
	if err != nil {
		return crypto.RequestURI{}, result(ctx, err)
	}
	parts := []string{req.URI.String(), fmt.Sprint(req.DontCompress)}
	run := func(p insert.BlockPutter, progress func(fcp.Progress)) (crypto.RequestURI, error) {
		cfg := b.insertConfig("", "", req.DontCompress, b.n.keys.stream("putdir", sum, parts...), progress)
		return insert.Directory(ctx, p, req.URI, dir, cfg)
	}
	if req.GetCHKOnly || req.URI.Type == crypto.USK {
		uri, err := run(b.putter(req.GetCHKOnly), progress)
		return uri, result(ctx, err)
	}
	return b.keyFirst(ctx, b.n.keys.uploadName("putdir", sum, parts...), run, func() error { return nil }, progress)
}

// siteDir turns a ClientPutComplexDir's entries into a directory to insert, and hashes
// everything that decides the site's blocks: names, types, redirect targets, contents.
func siteDir(req fcp.PutDirRequest) (insert.Dir, []byte, error) {
	h := newContentHash()
	var dir insert.Dir
	top := false
	for _, e := range req.Entries {
		h.field(e.Name)
		h.field(e.ContentType)
		entry := insert.Entry{Path: strings.TrimPrefix(path.Clean("/"+e.Name), "/"), MIMEType: e.ContentType}
		if e.IsRedirect() {
			h.field(e.TargetURI.String())
			entry.Redirect = e.TargetURI
		} else {
			// Each file is hashed on its own too: the insert reads it again (a disk file of
			// ClientPutDiskDir where it lies) and fails if it no longer holds what the
			// site's keys were derived from (§19.5).
			own := sha256.New()
			if _, err := io.Copy(io.MultiWriter(h, own), io.NewSectionReader(e.Data, 0, e.Data.Size())); err != nil {
				return insert.Dir{}, nil, fmt.Errorf("read %q: %w", e.Name, err)
			}
			h.field("")
			data := e.Data
			var sum [32]byte
			copy(sum[:], own.Sum(nil))
			entry.Open = func() (io.ReadCloser, error) {
				return io.NopCloser(newReread(data, data.Size(), sum)), nil
			}
		}
		if entry.Path == req.DefaultName {
			top = true
		}
		dir.Entries = append(dir.Entries, entry)
	}
	// Freenet's clients send DefaultName=index.html whether or not the site has one; a
	// default that names no file at the top is left to the insert library's own rule.
	if top && !strings.Contains(req.DefaultName, "/") {
		dir.Default = req.DefaultName
	}
	h.field(dir.Default)
	return dir, h.sum(), nil
}

// Get fetches a URI. A USK is first moved on to the newest edition found: if that is newer
// than the one asked for, the client is redirected to it, as Freenet's node does.
func (b *backend) Get(ctx context.Context, req fcp.GetRequest, progress func(fcp.Progress)) (fcp.Found, io.ReadCloser, error) {
	ctx, end, err := b.begin(ctx, false)
	if err != nil {
		return fcp.Found{}, nil, clientError(err)
	}
	var getter fetch.BlockGetter = b.n.net
	var cache *downloadCache
	if req.DSOnly {
		getter = localBlocks{b.n.store}
	} else if cache, err = b.n.downloads.cache(req.URI); err != nil {
		b.n.log.Warn("a fetch cannot keep its blocks for resuming", "err", err)
	}
	f := fetch.New(getter, fetch.Config{
		Cache:    blockCache(cache),
		MaxSize:  req.MaxSize,
		Window:   b.n.cfg.FetchWindow,
		Editions: b.n.editions,
		Logger:   b.n.log,
		Progress: func(p fetch.Progress) {
			progress(fcp.Progress{Total: p.BlocksTotal, Required: p.BlocksRequired, Succeeded: p.BlocksDone, Failed: p.BlocksFailed})
		},
	})
	uri := req.URI
	if uri.Type == crypto.USK {
		latest, err := f.LatestEdition(ctx, uri)
		switch {
		case err == nil && latest.Edition > uri.Edition:
			end()
			return fcp.Found{}, nil, &fcp.RedirectError{URI: latest}
		case err != nil && !errors.Is(err, fetch.ErrEditionNotFound) && !errors.Is(err, fetch.ErrBlockNotFound):
			end()
			return fcp.Found{}, nil, result(ctx, err)
		}
	}
	r, err := f.Open(ctx, uri)
	if err != nil {
		end()
		return fcp.Found{}, nil, result(ctx, err)
	}
	found := fcp.Found{ContentType: r.ContentType(), DataLength: r.Size()}
	progress(fcp.Progress{ContentType: found.ContentType, DataLength: found.DataLength})
	return found, &fetchStream{r: r, ctx: ctx, end: end, cache: cache}, nil
}

// blockCache is the fetch's cache, nil if there is none (a nil *downloadCache is not a nil
// interface).
func blockCache(c *downloadCache) fetch.BlockCache {
	if c == nil {
		return nil
	}
	return c
}

// fetchStream is the content of a Get: its errors are reported as the fcp outcomes, and
// closing it ends the request. Once the content was read whole, the blocks kept for resuming
// it are removed; a fetch that stopped short keeps them for the next fetch of the URI.
type fetchStream struct {
	r     *fetch.Reader
	ctx   context.Context
	end   func()
	cache *downloadCache
	whole bool
	once  sync.Once
}

func (s *fetchStream) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err == io.EOF {
		s.whole = true
	}
	if err != nil && err != io.EOF {
		err = result(s.ctx, err)
	}
	return n, err
}

func (s *fetchStream) Close() error {
	err := s.r.Close()
	s.once.Do(func() {
		if s.whole && s.cache != nil {
			s.cache.Remove()
		}
		s.end()
	})
	return err
}

// drainWait waits for the running inserts to end, at most d.
func drainWait(idle <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-idle:
		return true
	case <-t.C:
		return false
	}
}

// LatestEdition serves FCP's USK subscriptions (fcp.EditionFinder): the newest edition of u's
// site from u's edition on, searched in the network when poll is set, else as far as this
// node already knows from its fetches.
func (b *backend) LatestEdition(ctx context.Context, u crypto.RequestURI, poll bool) (crypto.RequestURI, error) {
	if !poll {
		if n, ok := b.n.editions.Latest(u); ok && n >= u.Edition {
			return u.WithEdition(n), nil
		}
		return crypto.RequestURI{}, fmt.Errorf("%w: no edition of %v known here", fcp.ErrDataNotFound, u.WithPath(""))
	}
	ctx, end, err := b.begin(ctx, false)
	if err != nil {
		return crypto.RequestURI{}, clientError(err)
	}
	defer end()
	f := fetch.New(b.n.net, fetch.Config{Editions: b.n.editions, Logger: b.n.log})
	latest, err := f.LatestEdition(ctx, u)
	if errors.Is(err, fetch.ErrEditionNotFound) || errors.Is(err, fetch.ErrBlockNotFound) {
		return crypto.RequestURI{}, fmt.Errorf("%w: %v", fcp.ErrDataNotFound, err)
	}
	return latest, err
}
