// Package fetch turns a URI back into content (docs/spec.md §12–§15): it fetches the top
// block, follows redirects, manifests and nested metadata, requests a splitfile's blocks in
// parallel through a BlockGetter, decodes each segment as soon as any k of its blocks have
// arrived, verifies every block, decrypts and decompresses, and streams the content out in
// order.
//
// Every byte handed out has been verified against the keys the URI leads to: blocks against
// their routing keys, blocks rebuilt by the erasure code by encoding them again, the content
// against the size its metadata states. A fetch that cannot complete fails with an error that
// says why; it never returns wrong bytes.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"lethe/crypto"
	"lethe/metadata"
)

// BlockGetter fetches blocks from the network. The node fills it with its datastore and
// router; tests fill it with an in-memory store.
//
// attempt counts the earlier failed tries of this key within one fetch (0 for the first): on
// a retry the network should take a route it has not taken for this key yet. A block the
// network does not have is ErrBlockNotFound. The caller verifies every block it gets, so a
// BlockGetter may return whatever a peer sent.
type BlockGetter interface {
	GetBlock(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey, attempt int) ([]byte, error)
}

// Errors a caller branches on.
var (
	// ErrBlockNotFound: the network does not have a block (returned by a BlockGetter), and,
	// wrapped, a fetch failed because blocks could not be found.
	ErrBlockNotFound = errors.New("block not found")
	// ErrTooLarge: the content is larger than the caller's limit. Nothing was fetched past
	// the metadata.
	ErrTooLarge = errors.New("content is larger than the size limit")
	// ErrNotFound: the path names nothing in the site.
	ErrNotFound = errors.New("no such file in the site")
	// ErrIsDirectory: the URI names a directory that has no default file.
	ErrIsDirectory = errors.New("the URI names a directory with no default file")
	// ErrCorrupt: blocks verified against their keys, but the content they make does not
	// match its metadata. The inserter made a broken or hostile insert.
	ErrCorrupt = errors.New("content does not match its metadata")
	// ErrEncrypted: the content is encrypted to age recipients and no identity was given.
	ErrEncrypted = errors.New("content is encrypted to age recipients; an identity is needed")
	// ErrTooManyHops: redirects and nested metadata go deeper than MaxHops.
	ErrTooManyHops = errors.New("too many redirects")
	// ErrEditionNotFound: no edition of a USK site could be found.
	ErrEditionNotFound = errors.New("no edition of the site found")
)

// SegmentError says which segment of a splitfile could not be rebuilt: fewer than the
// blocks it needs could be fetched. It wraps ErrBlockNotFound.
type SegmentError struct {
	Segment, Segments int // which segment (from 0), of how many
	Have, Need        int // blocks fetched and verified, blocks needed
	Blocks            int // blocks the segment has in all
}

func (e *SegmentError) Error() string {
	return fmt.Sprintf("segment %d of %d: found %d of the %d blocks needed (%d missing; %d blocks exist)",
		e.Segment+1, e.Segments, e.Have, e.Need, e.Need-e.Have, e.Blocks)
}

func (e *SegmentError) Unwrap() error { return ErrBlockNotFound }

// Limits and tuning (not part of the format).
const (
	DefaultMaxSize  = metadata.MaxSize // bytes of content, when Config.MaxSize is 0: any file
	MaxHops         = 16               // redirects and nested metadata followed for one URI
	defaultWindow   = 32
	defaultAttempts = 3
	segmentsAhead   = 4 // segments fetched at once ahead of the one being written
	editionWindow   = 8 // USK editions probed at once
)

// Config is how a Fetcher fetches. The zero value works: any size, 32 blocks in flight at
// first and then as many as the path carries, three tries per block, no resumption.
type Config struct {
	// MaxSize is the largest content accepted, in bytes (default 1 GiB). Content the
	// metadata says is larger fails with ErrTooLarge before its blocks are fetched.
	MaxSize int64
	// Window is how many block requests a fetch starts with in flight (default 32); the
	// window then adapts to the path, between 4 and MaxWindow (window.go).
	Window int
	// MaxWindow bounds the window (default 256, at least Window).
	MaxWindow int
	// Attempts is how many times one block is requested before it counts as lost
	// (default 3); each retry asks the network for a fresh route.
	Attempts int
	// Identities is the text of an age identity file, to read content encrypted to age
	// recipients (spec §15).
	Identities []byte
	// Cache, if set, keeps every verified block, so that a fetch run again after an
	// interruption does not request them again (see DirCache).
	Cache BlockCache
	// Editions remembers the newest edition found of each USK site; share one between
	// Fetchers to share what they found. A Fetcher makes its own if nil.
	Editions *Editions
	// Progress, if set, is called as blocks arrive and content is read, never concurrently.
	Progress func(Progress)
	// Logger receives debug messages; nil is silent.
	Logger *slog.Logger
}

// Progress is a snapshot of what a Fetcher has done.
type Progress struct {
	BlocksTotal    int   // blocks of the content's splitfiles and metadata
	BlocksRequired int   // of them, the blocks needed to rebuild the content
	BlocksDone     int   // blocks fetched and verified (or found in the cache)
	BlocksFailed   int   // requests that failed: not found, or refused as corrupt
	Bytes          int64 // bytes of content handed out
}

// Fetcher fetches content from the network. It is safe for concurrent use; its progress
// counts everything it fetched.
type Fetcher struct {
	g   BlockGetter
	cfg Config

	mu       sync.Mutex // guards progress and serialises cfg.Progress calls
	progress Progress
}

// New returns a Fetcher that gets blocks from g.
func New(g BlockGetter, cfg Config) *Fetcher {
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.Window <= 0 {
		cfg.Window = defaultWindow
	}
	if cfg.MaxWindow <= 0 {
		cfg.MaxWindow = defaultMaxWindow
	}
	cfg.MaxWindow = max(cfg.MaxWindow, cfg.Window)
	if cfg.Attempts <= 0 {
		cfg.Attempts = defaultAttempts
	}
	if cfg.Editions == nil {
		cfg.Editions = &Editions{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Fetcher{g: g, cfg: cfg}
}

func (f *Fetcher) report(update func(*Progress)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	update(&f.progress)
	if f.cfg.Progress != nil {
		f.cfg.Progress(f.progress)
	}
}

// Progress returns what the Fetcher has done so far.
func (f *Fetcher) Progress() Progress {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.progress
}
