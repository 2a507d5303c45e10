package node

import (
	"fmt"
	"sync"

	"lethe/crypto"
	"lethe/fetch"
	"lethe/private"
)

// downloads keeps the blocks of the user's fetches that are not done, so that a fetch of the
// same URI after an interruption (the client went, a segment could not be gathered) takes them
// first and asks the network only for the rest (spec §19.5). They are kept in the node's
// private spool (§19.10): one subdirectory per URI, of a random name, each block sealed under
// keys that exist only in this run's memory, so that the disk shows neither which URI nor which
// blocks; the spool is emptied when the node starts, so a fetch interrupted by a restart
// starts again.
type downloads struct {
	spool *private.Spool

	mu   sync.Mutex
	subs map[string]*private.Spool // by URI, the fetches not done; guarded by mu
}

func openDownloads(path string) (*downloads, error) {
	sp, err := private.OpenSpool(path)
	if err != nil {
		return nil, fmt.Errorf("downloads: %w", err)
	}
	return &downloads{spool: sp, subs: map[string]*private.Spool{}}, nil
}

// cache is where a fetch of uri keeps its blocks: the one an earlier fetch of it left, or a
// new one.
func (d *downloads) cache(uri crypto.RequestURI) (*downloadCache, error) {
	key := uri.String()
	d.mu.Lock()
	defer d.mu.Unlock()
	sp := d.subs[key]
	if sp == nil {
		var err error
		if sp, err = d.spool.Sub(); err != nil {
			return nil, err
		}
		d.subs[key] = sp
	}
	return &downloadCache{d: d, key: key, sp: sp}, nil
}

// count is how many URIs have blocks kept.
func (d *downloads) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.subs)
}

// downloadCache is one URI's kept blocks, a fetch.BlockCache.
type downloadCache struct {
	d   *downloads
	key string
	sp  *private.Spool
}

var _ fetch.BlockCache = (*downloadCache)(nil)

func (c *downloadCache) Load(rk crypto.RoutingKey) ([]byte, bool) { return c.sp.GetBlock(rk[:]) }

func (c *downloadCache) Store(rk crypto.RoutingKey, block []byte) error {
	return c.sp.PutBlock(rk[:], block)
}

// Remove lets go of the blocks once the content was read whole.
func (c *downloadCache) Remove() {
	c.d.mu.Lock()
	if c.d.subs[c.key] == c.sp {
		delete(c.d.subs, c.key)
	}
	c.d.mu.Unlock()
	c.sp.Remove()
}
