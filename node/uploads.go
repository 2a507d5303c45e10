package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"lethe/crypto"
	"lethe/insert"
	"lethe/session"
)

// uploads are the node's inserts whose URI its user already has and whose blocks are still
// going into the network (spec §19.13). Each is a block log in the data directory's uploads/,
// encoded before the URI was handed out and uploaded in the background from there; the node
// owns an upload from then on, whether or not its client stays: it goes on when the client
// disconnects, is tried again after a failure, and resumes when the node starts again.
type uploads struct {
	dir    string
	put    insert.BlockPutter
	window int
	peers  func() int // the node's linked peers: an upload waits for one
	log    *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	running map[string]*upload // by block log name; guarded by mu
	closed  bool               // guarded by mu
}

// upload is one block log going into the network.
type upload struct {
	name     string
	uploaded atomic.Int64
	total    atomic.Int64
	attempts atomic.Int64
	failing  atomic.Bool // the last attempt failed; another follows

	mu       sync.Mutex
	watchers map[int]func(uploaded, total int64) // guarded by mu
	nextID   int                                 // guarded by mu
	tried    chan struct{}                       // closed and replaced after each attempt; guarded by mu
	err      error                               // of the last attempt; guarded by mu
	done     bool                                // the network holds every block; guarded by mu
}

// Tuning of uploads (not part of any format).
const (
	// uploadRetryFirst and uploadRetryMax bound the wait before an upload that failed is
	// tried again: it doubles from the first to the last.
	uploadRetryFirst = 5 * time.Second
	uploadRetryMax   = 5 * time.Minute
	blockLogExt      = ".blocks"
)

func newUploads(dir string, put insert.BlockPutter, window int, peers func() int, log *slog.Logger) (*uploads, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("uploads: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &uploads{dir: dir, put: put, window: window, peers: peers, log: log, ctx: ctx, cancel: cancel, running: map[string]*upload{}}, nil
}

func (u *uploads) path(name string) string { return filepath.Join(u.dir, name+blockLogExt) }

// resume starts every upload a block log of an earlier run holds, and removes the logs whose
// encoding was cut off (their URI was never handed out).
func (u *uploads) resume() {
	entries, err := os.ReadDir(u.dir)
	if err != nil {
		u.log.Warn("uploads: cannot list the block logs", "err", err)
		return
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), blockLogExt)
		if !ok {
			os.Remove(filepath.Join(u.dir, e.Name())) // an encoding cut off: *.tmp
			continue
		}
		if _, err := u.start(name); err != nil {
			u.log.Warn("uploads: a block log cannot be resumed; it is removed", "err", err)
			os.Remove(u.path(name))
		}
	}
}

// encode makes the block log of an insert, unless a sealed one of that name is there: then
// the insert is run again into insert.Discard, only to learn the URI, which is the same (the
// insert's randomness is derived, §19.5). insert runs the insert into the putter it is
// given.
func (u *uploads) encode(name string, insertInto func(insert.BlockPutter) (crypto.RequestURI, error)) (crypto.RequestURI, error) {
	if _, err := os.Stat(u.path(name)); err == nil {
		return insertInto(insert.Discard)
	}
	var r [8]byte
	rand.Read(r[:])
	tmp := filepath.Join(u.dir, name+"."+hex.EncodeToString(r[:])+".tmp")
	log, err := insert.CreateBlockLog(tmp)
	if err != nil {
		return crypto.RequestURI{}, err
	}
	uri, err := insertInto(log)
	if err == nil {
		err = log.Seal()
	}
	if err == nil {
		err = log.Close()
	}
	if err == nil {
		err = os.Rename(tmp, u.path(name))
	}
	if err != nil {
		log.Remove()
		return crypto.RequestURI{}, err
	}
	return uri, nil
}

// start uploads the block log name in the background, unless that upload runs already, and
// returns it.
func (u *uploads) start(name string) (*upload, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil, errShuttingDown
	}
	if up := u.running[name]; up != nil {
		return up, nil
	}
	log, err := insert.OpenBlockLog(u.path(name))
	if err != nil {
		return nil, err
	}
	up := &upload{name: name, watchers: map[int]func(int64, int64){}, tried: make(chan struct{})}
	done, total := log.Blocks()
	up.uploaded.Store(done)
	up.total.Store(total)
	u.running[name] = up
	u.wg.Go(func() { u.run(up, log) })
	return up, nil
}

// run uploads until the network holds every block or the node stops; a failed attempt is
// tried again after a wait that doubles.
func (u *uploads) run(up *upload, log *insert.BlockLog) {
	wait := uploadRetryFirst
	for {
		err := u.waitForPeers()
		if err == nil {
			up.attempts.Add(1)
			// The blocks of one upload are one session and walk one stem (spec §18.2).
			err = log.Upload(session.Start(u.ctx), u.put, insert.UploadConfig{Window: u.window, Progress: up.progress})
		}
		if u.ctx.Err() != nil {
			log.Close() // kept: the next start resumes it
			up.finish(errShuttingDown, false)
			u.forget(up)
			return
		}
		if err == nil || errors.Is(err, crypto.ErrCollision) {
			// Done; or an SSK slot holds other content, which no retry changes.
			if rerr := log.Remove(); rerr != nil {
				u.log.Warn("uploads: remove a finished block log", "err", rerr)
			}
			up.finish(err, err == nil)
			u.forget(up)
			return
		}
		u.log.Info("uploads: an upload failed; it is tried again", "after", wait, "err", err)
		up.failing.Store(true)
		up.finish(err, false)
		select {
		case <-time.After(wait):
		case <-u.ctx.Done():
		}
		wait = min(2*wait, uploadRetryMax)
	}
}

// waitForPeers returns once the node has a peer, or the node stops.
func (u *uploads) waitForPeers() error {
	for u.peers() == 0 {
		select {
		case <-time.After(500 * time.Millisecond):
		case <-u.ctx.Done():
			return u.ctx.Err()
		}
	}
	return nil
}

func (u *uploads) forget(up *upload) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.running[up.name] == up {
		delete(u.running, up.name)
	}
}

// list returns the uploads running, oldest name first.
func (u *uploads) list() []UploadStatus {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]UploadStatus, 0, len(u.running))
	for _, up := range u.running {
		out = append(out, UploadStatus{Uploaded: up.uploaded.Load(), Blocks: up.total.Load(), Attempts: up.attempts.Load(), Failing: up.failing.Load()})
	}
	slices.SortFunc(out, func(a, b UploadStatus) int { return int(b.Blocks - a.Blocks) })
	return out
}

// close stops every upload (each keeps its block log for the next start) and waits for them.
func (u *uploads) close() {
	u.mu.Lock()
	u.closed = true
	u.mu.Unlock()
	u.cancel()
	u.wg.Wait()
}

// UploadStatus is one upload in the node's status: counts only, never a key.
type UploadStatus struct {
	Blocks   int64 `json:"blocks"`
	Uploaded int64 `json:"uploaded"`
	Attempts int64 `json:"attempts"`
	Failing  bool  `json:"failing"` // the last attempt failed; the node tries again
}

func (up *upload) progress(uploaded, total int64) {
	up.uploaded.Store(uploaded)
	up.mu.Lock()
	defer up.mu.Unlock()
	for _, w := range up.watchers {
		w(uploaded, total)
	}
}

// finish ends an attempt: its waiters learn how it went.
func (up *upload) finish(err error, done bool) {
	up.mu.Lock()
	defer up.mu.Unlock()
	up.err, up.done = err, done
	close(up.tried)
	up.tried = make(chan struct{})
}

// wait follows the upload until the network holds it (nil), an attempt fails (its error;
// the node goes on trying), or ctx ends. progress sees each block; it is not called after
// wait returns.
func (up *upload) wait(ctx context.Context, progress func(uploaded, total int64)) error {
	up.mu.Lock()
	if up.done {
		up.mu.Unlock()
		return nil
	}
	id := up.nextID
	up.nextID++
	up.watchers[id] = progress
	tried := up.tried
	up.mu.Unlock()
	defer func() {
		up.mu.Lock()
		delete(up.watchers, id)
		up.mu.Unlock()
	}()
	progress(up.uploaded.Load(), up.total.Load())
	select {
	case <-tried:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if up.done {
		return nil
	}
	switch {
	case up.err == nil:
		return errors.New("the upload stopped")
	case errors.Is(up.err, crypto.ErrCollision), errors.Is(up.err, errShuttingDown):
		return up.err
	}
	return fmt.Errorf("upload: %w (the node keeps trying)", up.err)
}
