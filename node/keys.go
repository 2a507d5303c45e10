package node

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"path/filepath"
	"sync/atomic"

	"lethe/private"
)

// labelInsertRand keys the randomness of the node's inserts (spec §19.5).
const labelInsertRand = "lethe/v1/node-insert-rand"

// insertKeys derives the randomness each insert through the node draws its keys from.
//
// An insert with random keys gives a new URI every time, which breaks what Freenet's clients
// do: compute a file's key first (GetCHKOnly) and insert it later under that key, or name it
// in a site before inserting it. Convergent keys would keep the URI but let anyone who has a
// file recognise its blocks. The node takes the middle way: the randomness of an insert is
// HMAC(node secret, label ‖ what the insert is ‖ SHA-256 of its content), so the same
// content inserted through the same node gets the same URI, while nobody without the node's
// secret can tell its blocks from random ones.
type insertKeys struct {
	secret [32]byte
}

// loadInsertKeys reads the node's insert secret, making it on the first run.
func loadInsertKeys(path string, random io.Reader) (*insertKeys, error) {
	k := &insertKeys{}
	b, err := private.ReadSecretFile(path, len(k.secret))
	switch {
	case err == nil:
		if len(b) != len(k.secret) {
			return nil, fmt.Errorf("insert secret %s: %d bytes, want %d (delete it to make a new one)", path, len(b), len(k.secret))
		}
		copy(k.secret[:], b)
		return k, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read insert secret: %w", err)
	}
	if random == nil {
		random = rand.Reader
	}
	if _, err := io.ReadFull(random, k.secret[:]); err != nil {
		return nil, fmt.Errorf("make insert secret: %w", err)
	}
	if err := writeFileAtomic(path, k.secret[:], 0o600); err != nil {
		return nil, fmt.Errorf("save insert secret: %w", err)
	}
	return k, nil
}

// stream returns the randomness for one insert: a ChaCha8 stream seeded with the HMAC of
// the label, the parts that describe the insert (each length-prefixed) and the content's
// hash.
func (k *insertKeys) stream(kind string, sum []byte, parts ...string) io.Reader {
	return mrand.NewChaCha8(k.seed(kind, sum, parts...))
}

// uploadName names the block log of an insert (spec §19.13): the same insert through the same
// node has the same name, so that running it again finds the upload already encoded. It is
// HMAC(seed, "lethe/v1/upload-name"), in hex: without the node's secret it says nothing about
// the content.
func (k *insertKeys) uploadName(kind string, sum []byte, parts ...string) string {
	seed := k.seed(kind, sum, parts...)
	m := hmac.New(sha256.New, seed[:])
	m.Write([]byte(labelUploadName))
	return hex.EncodeToString(m.Sum(nil)[:12])
}

// labelUploadName keys the names of block logs (spec §19.13).
const labelUploadName = "lethe/v1/upload-name"

// seed is the seed of an insert's randomness.
func (k *insertKeys) seed(kind string, sum []byte, parts ...string) [32]byte {
	m := hmac.New(sha256.New, k.secret[:])
	m.Write([]byte(labelInsertRand))
	m.Write([]byte{0})
	for _, p := range append([]string{kind}, parts...) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(p)))
		m.Write(n[:])
		m.Write([]byte(p))
	}
	m.Write(sum)
	var seed [32]byte
	copy(seed[:], m.Sum(nil))
	return seed
}

// contentHash hashes a sequence of fields and contents unambiguously.
type contentHash struct{ h hash.Hash }

func newContentHash() *contentHash { return &contentHash{h: sha256.New()} }

func (c *contentHash) Write(p []byte) (int, error) { return c.h.Write(p) }

// field ends whatever was written since the last field with a length-prefixed string.
func (c *contentHash) field(s string) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(s)))
	c.h.Write([]byte{0xff})
	c.h.Write(n[:])
	c.h.Write([]byte(s))
}

func (c *contentHash) sum() []byte { return c.h.Sum(nil) }

// memorySpool is the largest insert data held in memory; larger data goes to a file.
const memorySpool = 4 << 20

// spooled is an insert's data, read to its end and hashed: kept in memory, in a spool file,
// or, for a file the node may read again, where it lies (inPlace).
type spooled struct {
	sum  [32]byte
	mem  []byte
	file *private.File
	at   io.ReaderAt
	size int64
}

// spool reads exactly n bytes from r into memory or a temporary file of the node.
func (n *Node) spool(r io.Reader, size int64) (*spooled, error) {
	sp := &spooled{size: size}
	h := sha256.New()
	if size <= memorySpool {
		buf := make([]byte, size)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		h.Write(buf)
		sp.mem = buf
	} else {
		// Sealed under a key in memory, under a random name (package private): the disk
		// shows nothing of it, and what a crash leaves is removed at the next start.
		f, err := n.tmp.Create()
		if err != nil {
			return nil, err
		}
		err = copyHashing(f, h, r, size)
		if err == nil {
			err = f.Finish()
		}
		if err != nil {
			f.Remove()
			return nil, err
		}
		sp.file = f
	}
	copy(sp.sum[:], h.Sum(nil))
	return sp, nil
}

// spoolPiece is how much of the data copyHashing reads at a time.
const spoolPiece = 1 << 20

// copyHashing copies exactly size bytes from r to w and to h. The pieces read go through a
// pipeline of goroutines, hashed on one while the one before is written (sealed, for a
// spool file) on another and the next read, so that where the machine has cores free the
// client waits for the slowest of the three alone.
func copyHashing(w io.Writer, h hash.Hash, r io.Reader, size int64) error {
	const pieces = 4
	free := make(chan []byte, pieces) // pieces being neither read, hashed nor written
	for range pieces {
		free <- make([]byte, spoolPiece)
	}
	toHash, toWrite := make(chan []byte, pieces), make(chan []byte, pieces)
	written := make(chan error, 1) // the first write that failed, or nil when all are done
	go func() {
		for p := range toHash {
			h.Write(p)
			toWrite <- p
		}
		close(toWrite)
	}()
	var failed atomic.Bool
	go func() {
		var werr error
		for p := range toWrite {
			if werr == nil {
				if _, werr = w.Write(p); werr != nil {
					failed.Store(true)
				}
			}
			free <- p[:cap(p)]
		}
		written <- werr
	}()
	var rerr error
	for size > 0 && !failed.Load() {
		p := (<-free)[:min(size, spoolPiece)]
		if _, rerr = io.ReadFull(r, p); rerr != nil {
			if errors.Is(rerr, io.ErrUnexpectedEOF) {
				rerr = io.EOF // as io.CopyN says it: the data ended before size
			}
			break
		}
		size -= int64(len(p))
		toHash <- p
	}
	close(toHash)
	if werr := <-written; werr != nil {
		return werr
	}
	return rerr
}

// Reader reads the data from its start.
func (s *spooled) Reader() io.Reader {
	if s.at != nil {
		return newReread(s.at, s.size, s.sum)
	}
	if s.file != nil {
		return s.file.Reader()
	}
	return bytes.NewReader(s.mem)
}

func (s *spooled) Close() error {
	if s.file != nil {
		return s.file.Remove()
	}
	return nil
}

func (n *Node) tmpDir() string { return filepath.Join(n.cfg.Dir, "tmp") }
