package fetch

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"lethe/crypto"
)

// BlockCache keeps the blocks a fetch has verified, so that a fetch interrupted and run
// again does not request them again. Blocks are kept as they travel, encrypted; every block
// loaded is verified again before use, so a damaged cache costs a request, never wrong data.
type BlockCache interface {
	Load(rk crypto.RoutingKey) ([]byte, bool)
	Store(rk crypto.RoutingKey, block []byte) error
}

// DirCache is a BlockCache in a directory of the user's choosing, one file per block. It is
// for resuming the user's own downloads, and is kept apart from the node's shared store
// (spec §8): a download is not offered to the network from here.
type DirCache struct {
	dir string
}

// maxBlockSize bounds what Load reads, so that a stray large file costs nothing.
const maxBlockSize = max(crypto.CHKBlockSize, crypto.SSKBlockSize)

// NewDirCache uses dir (created if missing) to keep blocks.
func NewDirCache(dir string) (*DirCache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("fetch: block cache: %w", err)
	}
	return &DirCache{dir: dir}, nil
}

func (c *DirCache) path(rk crypto.RoutingKey) string {
	return filepath.Join(c.dir, hex.EncodeToString(rk[:])+".block")
}

// Load returns the block kept under rk, if any.
func (c *DirCache) Load(rk crypto.RoutingKey) ([]byte, bool) {
	f, err := os.Open(c.path(rk))
	if err != nil {
		return nil, false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxBlockSize+1))
	if err != nil || len(b) > maxBlockSize {
		return nil, false
	}
	return b, true
}

// Store keeps a block. It writes a temporary file and renames it, so that a crash leaves
// either the whole block or none.
func (c *DirCache) Store(rk crypto.RoutingKey, block []byte) error {
	tmp, err := os.CreateTemp(c.dir, "partial-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(block)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), c.path(rk))
}

// Remove deletes the cache directory and every block in it, once the fetch is done.
func (c *DirCache) Remove() error {
	return os.RemoveAll(c.dir)
}
