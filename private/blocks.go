package private

import (
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"sync"
)

// MaxBlock bounds what PutBlock takes, so that a block cannot grow the log without bound in
// one write.
const MaxBlock = 1 << 20

// blockLogName is the file in a spool directory that holds its blocks.
const blockLogName = "blocks"

// blockLog is where a spool's blocks are (spec §19.10): one file, appended to, and in memory
// the place of each block under its keyed name. Since a spool directory is emptied when it is
// opened, nothing needs to find a block after the process ends, so the places are never
// written; and one file a directory costs one write a block, where a file a block cost a
// create and a rename (a sixth of a cold fetch's CPU).
type blockLog struct {
	mu  sync.Mutex
	f   *os.File              // opened at the first block; guarded by mu
	end int64                 // guarded by mu
	at  map[[16]byte][2]int64 // offset and length of each block's record; guarded by mu
	err error                 // why the log cannot be written, once it cannot; guarded by mu
}

// sealBuffers recycles the buffers blocks are sealed in on their way into a log: a download
// seals every block it fetches, and the record is written before PutBlock returns.
var sealBuffers = sync.Pool{New: func() any { b := make([]byte, 0, sealBufferSize); return &b }}

// sealBufferSize holds a CHK block's record (32 KiB, its nonce and tag) with room to spare.
const sealBufferSize = 33 << 10

// PutBlock keeps data under name (a routing key, say). It is appended to the directory's
// block log as a random 12-byte nonce and data sealed with AES-256-GCM under the directory's
// key, with name as additional data, so that a record cannot be passed off as another
// block's; where it lies is kept in memory under the name's keyed hash (keyedName), so that
// nobody without the key can tell which block a record holds, even knowing every name it
// could be. Kept again, a block is appended again.
func (d *Spool) PutBlock(name, data []byte) error {
	if len(data) > MaxBlock {
		return errors.New("private: block too large")
	}
	buf := sealBuffers.Get().(*[]byte)
	defer sealBuffers.Put(buf)
	need := d.blocks.NonceSize() + len(data) + d.blocks.Overhead()
	if cap(*buf) < need {
		*buf = make([]byte, 0, max(need, sealBufferSize))
	}
	nonce := (*buf)[:d.blocks.NonceSize()]
	rand.Read(nonce)
	sealed := d.blocks.Seal(nonce, nonce, data, name)
	l := &d.log
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	if l.f == nil {
		f, err := os.OpenFile(filepath.Join(d.path, blockLogName), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		l.f, l.at = f, map[[16]byte][2]int64{}
	}
	if _, err := l.f.WriteAt(sealed, l.end); err != nil {
		return err // the next block is written at the same place
	}
	l.at[d.keyedName(name)] = [2]int64{l.end, int64(len(sealed))}
	l.end += int64(len(sealed))
	return nil
}

// GetBlock returns the block kept under name, if there is one and it opens.
func (d *Spool) GetBlock(name []byte) ([]byte, bool) {
	l := &d.log
	l.mu.Lock()
	span, ok := l.at[d.keyedName(name)]
	f := l.f
	l.mu.Unlock()
	if !ok {
		return nil, false
	}
	b := make([]byte, span[1])
	if _, err := f.ReadAt(b, span[0]); err != nil || len(b) < d.blocks.NonceSize() {
		return nil, false
	}
	ns := d.blocks.NonceSize()
	data, err := d.blocks.Open(b[ns:ns], b[:ns], b[ns:], name)
	if err != nil {
		return nil, false
	}
	return data, true
}

// closeLog closes the block log; blocks are not kept or read after it.
func (d *Spool) closeLog() {
	l := &d.log
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
	}
	l.f, l.at, l.err = nil, nil, os.ErrClosed
}
