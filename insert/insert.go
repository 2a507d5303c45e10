// Package insert turns files and directories into blocks and inserts them (docs/spec.md
// §12–§15): it compresses content when that helps, optionally encrypts it to age recipients,
// splits it into CHK blocks, adds Reed–Solomon check blocks per segment, inserts the blocks in
// parallel through a BlockPutter, and builds and inserts the metadata that a URI names.
//
// Content streams: a Writer takes any number of bytes without holding them in memory, and its
// Close yields the URI. File does the same from an io.Reader, Directory inserts a site.
package insert

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"lethe/crypto"
	"lethe/session"
)

// BlockPutter stores a block in the network. The node fills it with its datastore and
// router; tests fill it with an in-memory store. PutBlock must not keep block after it
// returns unless it owns it: insert never reuses a block it has handed over.
//
// An SSK block that collides with a different block already stored under rk must be refused
// with an error wrapping crypto.ErrCollision (spec §4.3).
type BlockPutter interface {
	PutBlock(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error
}

// Discard is a BlockPutter that stores nothing: inserting into it computes the URI content
// would get (FCP's GetCHKOnly). With random keys (the default) a real insert of the same
// content gets another URI; use Convergent for one that repeats.
var Discard BlockPutter = discard{}

type discard struct{}

func (discard) PutBlock(context.Context, crypto.KeyType, crypto.RoutingKey, []byte) error {
	return nil
}

func (discard) doneWithBlocks() {}

// doneWith is a putter of this package that is done with a block when PutBlock returns (a
// block log copies it, Discard drops it): an insert into one reuses its block buffers
// instead of making a new one for every block.
type doneWith interface{ doneWithBlocks() }

// Compression says whether content is compressed before it is split.
type Compression uint8

const (
	CompressAuto  Compression = iota // compress if a sample of the start shrinks (spec §12.4)
	CompressNever                    // store the bytes as they are
)

// Config is what one insert is to do. The zero value inserts under random keys, compresses
// when that helps, names the MIME type from the content, and uses crypto/rand.
type Config struct {
	// Name is the file's name, used to choose its MIME type. It is not stored.
	Name string
	// MIMEType overrides the type chosen from Name or the content.
	MIMEType string
	// Compression chooses whether to compress (default: when it helps).
	Compression Compression
	// Convergent derives every key from the content, so the same file gives the same URI,
	// and anyone holding the file can recognise its blocks (spec §3.2). The default is a
	// random key per insert.
	Convergent bool
	// Recipients, if any, are age recipients ("age1…" or post-quantum "age1pq1…"): the
	// content is encrypted to them before it is split, and only their identities can read
	// it (spec §15). The MIME type is then not guessed, to keep it from URI holders.
	Recipients []string
	// PartBytes is how much of the stored stream one splitfile carries; longer streams are
	// cut into parts (spec §12.2, kind 5). Default DefaultPartBytes; tests set it small.
	PartBytes int64
	// Window is how many blocks are handed to the putter at once (default 32).
	Window int
	// Retries is how many more times a failed PutBlock is tried (default 2).
	Retries int
	// MaxEditionSkips bounds how many later editions a USK insert tries when an edition is
	// already taken by other content (default 16).
	MaxEditionSkips int
	// Rand is the source of random keys (default crypto/rand.Reader).
	Rand io.Reader
	// Progress, if set, is called as blocks are inserted, never concurrently.
	Progress func(Progress)
	// Logger receives debug messages; nil is silent.
	Logger *slog.Logger
}

// Progress is a snapshot of an insert.
type Progress struct {
	Bytes          int64 // bytes of content read so far
	BlocksInserted int   // blocks the putter has accepted
	BlocksTotal    int   // blocks known so far; it grows while content is read
	Done           bool  // the last event: the top block is in and the URI is known
}

// Tuning defaults (not part of the format).
const (
	defaultWindow          = 32
	defaultRetries         = 2
	defaultMaxEditionSkips = 16
	segmentsInFlight       = 3 // segments encoded or inserted at once: bounds memory
)

// ErrPath: an insert URI for a single file carries a path. Paths name entries of a
// directory; insert the directory instead.
var ErrPath = errors.New("insert URI has a path; a path names an entry of a directory")

func (c *Config) withDefaults() Config {
	cfg := *c
	if cfg.Window <= 0 {
		cfg.Window = defaultWindow
	}
	if cfg.Retries <= 0 {
		cfg.Retries = defaultRetries
	}
	if cfg.MaxEditionSkips <= 0 {
		cfg.MaxEditionSkips = defaultMaxEditionSkips
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// checkTarget refuses insert URIs that cannot take content: a path, a bare SSK key.
func checkTarget(target crypto.InsertURI) error {
	if target.Path != "" {
		return ErrPath
	}
	switch target.Type {
	case crypto.CHK, crypto.USK, crypto.KSK:
	case crypto.SSK:
		if target.DocName == "" {
			return errors.New("insert: an SSK insert URI needs a document name: SSK@…/name")
		}
	default:
		return fmt.Errorf("insert: unknown key type %v", target.Type)
	}
	return nil
}

// File inserts the content r holds under target (CHK@ or an SSK, USK or KSK insert URI) and
// returns the URI to fetch it with. For a USK whose edition is taken by other content, the
// next free edition is used, and the URI says which.
func File(ctx context.Context, p BlockPutter, target crypto.InsertURI, r io.Reader, cfg Config) (crypto.RequestURI, error) {
	ctx = session.Start(ctx) // its blocks travel as one session (package session)
	w, err := NewWriter(ctx, p, target, cfg)
	if err != nil {
		return crypto.RequestURI{}, err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Abort()
		return crypto.RequestURI{}, err
	}
	if err := w.Close(); err != nil {
		return crypto.RequestURI{}, err
	}
	return w.URI(), nil
}
