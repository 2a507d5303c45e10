package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"sync"
	"time"

	"lethe/fetch"
	"lethe/insert"
)

// How many finished transfers the transfers page keeps showing.
const recentTransfers = 50

type transferKind uint8

const (
	kindFetch    transferKind = iota + 1 // a file streamed to the browser
	kindDownload                         // a large file fetched in the background for the browser
	kindInsert                           // a file or site inserted from the insert page
)

func (k transferKind) String() string {
	switch k {
	case kindFetch:
		return "fetch"
	case kindDownload:
		return "download"
	case kindInsert:
		return "insert"
	}
	return "transfer"
}

// transfer is one fetch or insert started through the proxy, as the transfers page shows it.
type transfer struct {
	id      string
	kind    transferKind
	name    string // the URI fetched, or the name of what is inserted
	link    string // where the browser opens a fetched file
	started time.Time
	cancel  context.CancelFunc // nil if it cannot be cancelled from the page
	now     func() time.Time

	mu          sync.Mutex
	size        int64 // bytes of content, 0 if not known yet; guarded by mu
	bytes       int64 // bytes of content read or fetched so far; guarded by mu
	blocksDone  int   // guarded by mu
	blocksTotal int   // blocks needed (fetch) or known (insert); guarded by mu
	failed      int   // block requests that failed; guarded by mu
	finished    time.Time
	err         error  // why it failed; guarded by mu
	result      string // the URI an insert made; guarded by mu
	insertURI   string // the secret insert URI of a new site, shown once it is done; guarded by mu
	onFinish    func() // guarded by mu
}

// transferView is a snapshot of a transfer for a page.
type transferView struct {
	ID, Kind, Name, Link string
	Started, Finished    time.Time
	Size, Bytes          int64
	BlocksDone           int
	BlocksTotal          int
	Failed               int
	Percent              int // 0–100, or -1 if not known
	Done                 bool
	Err                  string
	Result, InsertURI    string
	Cancellable          bool
}

func (t *transfer) view() transferView {
	t.mu.Lock()
	defer t.mu.Unlock()
	v := transferView{
		ID: t.id, Kind: t.kind.String(), Name: t.name, Link: t.link,
		Started: t.started, Finished: t.finished,
		Size: t.size, Bytes: t.bytes, BlocksDone: t.blocksDone, BlocksTotal: t.blocksTotal, Failed: t.failed,
		Done: !t.finished.IsZero(), Result: t.result, InsertURI: t.insertURI,
		Cancellable: t.cancel != nil && t.finished.IsZero(),
		Percent:     -1,
	}
	if t.err != nil {
		v.Err = explain(t.err)
	}
	switch {
	case v.Done && t.err == nil:
		v.Percent = 100
	case t.blocksTotal > 0:
		v.Percent = min(99, 100*t.blocksDone/t.blocksTotal)
	case t.size > 0:
		v.Percent = int(min(99, 100*t.bytes/t.size))
	}
	return v
}

// fetchProgress records a fetch's progress; it is a fetch.Config.Progress.
func (t *transfer) fetchProgress(p fetch.Progress) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.blocksDone, t.blocksTotal, t.failed = p.BlocksDone, p.BlocksRequired, p.BlocksFailed
	t.bytes = p.Bytes
}

// insertProgress records an insert's progress; it is an insert.Config.Progress.
func (t *transfer) insertProgress(p insert.Progress) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.blocksDone, t.blocksTotal, t.bytes = p.BlocksInserted, p.BlocksTotal, p.Bytes
}

// uploadProgress records the upload of an insert whose URI is known.
func (t *transfer) uploadProgress(uploaded, total int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.blocksDone, t.blocksTotal = int(uploaded), int(total)
}

// finish marks the transfer done, failed if err is not nil.
func (t *transfer) finish(err error) {
	t.mu.Lock()
	if !t.finished.IsZero() {
		t.mu.Unlock()
		return
	}
	t.finished, t.err = t.now(), err
	f := t.onFinish
	t.mu.Unlock()
	if f != nil {
		f()
	}
}

// transfers is the registry of transfers, and of the downloads kept for the browser.
type transfers struct {
	now func() time.Time

	mu        sync.Mutex
	active    map[string]*transfer // guarded by mu
	recent    []*transfer          // finished, oldest first; guarded by mu
	downloads map[string]*download // by URI; guarded by mu
}

func newTransfers(now func() time.Time) *transfers {
	return &transfers{now: now, active: map[string]*transfer{}, downloads: map[string]*download{}}
}

// start registers a transfer. cancel, if not nil, lets the transfers page stop it.
func (ts *transfers) start(kind transferKind, name, link string, size int64, cancel context.CancelFunc) *transfer {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.startLocked(kind, name, link, size, cancel)
}

func (ts *transfers) startLocked(kind transferKind, name, link string, size int64, cancel context.CancelFunc) *transfer {
	var id [8]byte
	rand.Read(id[:])
	t := &transfer{
		id: hex.EncodeToString(id[:]), kind: kind, name: name, link: link,
		started: ts.now(), cancel: cancel, now: ts.now, size: size,
	}
	t.onFinish = func() { ts.retire(t) }
	ts.active[t.id] = t
	return t
}

func (ts *transfers) retire(t *transfer) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	delete(ts.active, t.id)
	ts.recent = append(ts.recent, t)
	if len(ts.recent) > recentTransfers {
		ts.recent = slices.Delete(ts.recent, 0, len(ts.recent)-recentTransfers)
	}
}

// get finds a transfer by its ID, running or recent.
func (ts *transfers) get(id string) *transfer {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if t, ok := ts.active[id]; ok {
		return t
	}
	for _, t := range ts.recent {
		if t.id == id {
			return t
		}
	}
	return nil
}

// list returns the running transfers, oldest first, and the finished ones, newest first.
func (ts *transfers) list() (running, finished []transferView) {
	ts.mu.Lock()
	act := make([]*transfer, 0, len(ts.active))
	for _, t := range ts.active {
		act = append(act, t)
	}
	rec := slices.Clone(ts.recent)
	ts.mu.Unlock()
	for _, t := range act {
		running = append(running, t.view())
	}
	slices.SortFunc(running, func(a, b transferView) int { return a.Started.Compare(b.Started) })
	for i := len(rec) - 1; i >= 0; i-- {
		finished = append(finished, rec[i].view())
	}
	return running, finished
}

// errCancelled is why a transfer stopped when the user cancelled it.
var errCancelled = errors.New("cancelled")
