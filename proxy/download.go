package proxy

import (
	"context"
	"io"
	"net/http"
	"slices"
	"time"

	"lethe/crypto"
	"lethe/fetch"
	"lethe/metadata"
	"lethe/private"
	"lethe/proxy/filter"
)

// maxKeptDownloads is how many finished downloads keep their blocks for the browser; the
// least recently used beyond it are removed.
const maxKeptDownloads = 4

// download is a large file fetched in the background while the browser shows the progress
// page (spec §20.3). Its blocks are kept, as they travel (encrypted), in a directory of the
// proxy's, from which the file is then served at local speed, ranges included. The blocks
// are the user's own download, kept apart from the node's shared store (spec §8), and
// removed when the download is evicted or the proxy closes.
type download struct {
	t     *transfer
	cache spooledBlocks
	done  chan struct{} // closed when the fetch has ended
	err   error         // why it failed; written before done is closed
	used  time.Time     // last served; guarded by transfers.mu
}

// serveDownload answers a browser tab that opened a large file: from the finished download
// if there is one, else after waiting a moment for it, else with the progress page, which
// reloads itself until the file is there.
func (s *Server) serveDownload(w http.ResponseWriter, r *http.Request, ctx context.Context, uri crypto.RequestURI,
	doc *metadata.Document, d filter.Decision) {
	dl, err := s.download(uri, doc)
	if err != nil {
		s.fetchError(w, r, uri, err)
		return
	}
	timer := time.NewTimer(progressWait)
	defer timer.Stop()
	select {
	case <-dl.done:
	case <-timer.C:
	case <-ctx.Done():
		return
	}
	select {
	case <-dl.done:
		if dl.err != nil {
			s.xfers.forget(uri.String(), dl)
			s.fetchError(w, r, uri, dl.err)
			return
		}
		s.xfers.touch(dl)
		s.stream(w, r, ctx, uri, doc, d, dl.cache)
	default:
		s.progressPage(w, r, uri, dl.t.view())
	}
}

// download returns the download of uri, starting it if there is none.
func (s *Server) download(uri crypto.RequestURI, doc *metadata.Document) (*download, error) {
	key := uri.String()
	ts := s.xfers
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if dl, ok := ts.downloads[key]; ok {
		return dl, nil
	}
	if !s.begin() {
		return nil, ErrClosed
	}
	dir, err := s.spool.Sub()
	if err != nil {
		s.wg.Done()
		return nil, err
	}
	cache := spooledBlocks{dir}
	ctx, cancel := context.WithCancel(s.ctx)
	dl := &download{cache: cache, done: make(chan struct{}), used: s.cfg.Now()}
	t := ts.startLocked(kindDownload, key, filter.Path(uri), doc.Size, cancel)
	dl.t = t
	ts.downloads[key] = dl
	go func() {
		defer s.wg.Done()
		defer cancel()
		dl.err = s.fetchInto(ctx, doc, cache, t)
		t.finish(dl.err)
		close(dl.done)
		ts.evict()
	}()
	return dl, nil
}

// spooledBlocks keeps a download's blocks in a spool directory of its own (package private):
// files named by a keyed hash of the routing key and sealed under keys in memory, so that the
// disk shows neither which blocks they are nor, by hashing their contents, their routing keys.
type spooledBlocks struct{ dir *private.Spool }

func (b spooledBlocks) Load(rk crypto.RoutingKey) ([]byte, bool) { return b.dir.GetBlock(rk[:]) }

func (b spooledBlocks) Store(rk crypto.RoutingKey, block []byte) error {
	return b.dir.PutBlock(rk[:], block)
}

// Remove deletes the download's blocks.
func (b spooledBlocks) Remove() error { return b.dir.Remove() }

// fetchInto fetches the whole file doc describes, keeping its blocks in cache.
func (s *Server) fetchInto(ctx context.Context, doc *metadata.Document, cache fetch.BlockCache, t *transfer) error {
	cost := fetchCost(doc)
	if err := s.budget.acquire(ctx, cost); err != nil {
		return err
	}
	defer s.budget.release(cost)
	rd, err := s.newFetcher(cache, t.fetchProgress).OpenDocument(ctx, doc)
	if err != nil {
		return err
	}
	defer rd.Close()
	_, err = io.Copy(io.Discard, rd)
	return err
}

// finished returns the download of a URI if it is done and has all the blocks, and marks it
// as just served.
func (ts *transfers) finished(key string) *download {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	dl, ok := ts.downloads[key]
	if !ok {
		return nil
	}
	select {
	case <-dl.done:
		if dl.err != nil {
			return nil
		}
		dl.used = ts.now()
		return dl
	default:
		return nil
	}
}

// touch marks a download as just served, so that it is the last to be evicted.
func (ts *transfers) touch(dl *download) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	dl.used = ts.now()
}

// forget drops a download (one that failed, so that the next visit tries again).
func (ts *transfers) forget(key string, dl *download) {
	ts.mu.Lock()
	if ts.downloads[key] == dl {
		delete(ts.downloads, key)
	}
	ts.mu.Unlock()
	dl.cache.Remove()
}

// evict removes the blocks of finished downloads beyond maxKeptDownloads, least recently
// served first.
func (ts *transfers) evict() {
	ts.mu.Lock()
	type kept struct {
		key string
		dl  *download
	}
	var finished []kept
	for k, dl := range ts.downloads {
		select {
		case <-dl.done:
			finished = append(finished, kept{k, dl})
		default:
		}
	}
	var drop []*download
	if len(finished) > maxKeptDownloads {
		slices.SortFunc(finished, func(a, b kept) int { return a.dl.used.Compare(b.dl.used) })
		for _, k := range finished[:len(finished)-maxKeptDownloads] {
			delete(ts.downloads, k.key)
			drop = append(drop, k.dl)
		}
	}
	ts.mu.Unlock()
	for _, dl := range drop {
		dl.cache.Remove()
	}
}

// closeDownloads removes every download's blocks; the proxy is closed and its fetches ended.
func (ts *transfers) closeDownloads() {
	ts.mu.Lock()
	dls := ts.downloads
	ts.downloads = map[string]*download{}
	ts.mu.Unlock()
	for _, dl := range dls {
		dl.cache.Remove()
	}
}
