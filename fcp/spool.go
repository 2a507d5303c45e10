package fcp

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// spool holds data the server must keep beyond the stream it came from: a site's files until
// they are inserted, a persistent insert's data until it is done, a fetched file until it is
// sent. Small data stays in memory; large data, and everything on a persistent queue with a
// StateDir, goes to a file.
//
// A spool may be read while another goroutine drops it (a client removes a request whose
// result is being sent): readers acquire it, and the file is closed when the last one
// releases it.
type spool struct {
	ra   io.ReaderAt
	size int64
	file *os.File // nil in memory
	keep bool     // the file belongs to the persistent queue's directory
	path string   // the file's name when kept

	mu      sync.Mutex // guards refs, dropped, delete
	refs    int
	dropped bool
	delete  bool
}

var errSpoolTooBig = errors.New("data larger than the limit")

// newSpool reads r to its end, at most limit bytes (errSpoolTooBig if there are more). With
// dir set the data goes to a new file there that survives release until remove; otherwise
// small data is kept in memory and large data in an unnamed temporary file under tempDir.
func newSpool(r io.Reader, limit int64, dir, tempDir string) (*spool, error) {
	if dir == "" {
		var buf bytes.Buffer
		n, err := io.Copy(&buf, io.LimitReader(r, min(limit, memorySpoolLimit)+1))
		if err != nil {
			return nil, err
		}
		if n <= memorySpoolLimit && n <= limit {
			return &spool{ra: bytes.NewReader(buf.Bytes()), size: n}, nil
		}
		if n > limit {
			return nil, errSpoolTooBig
		}
		r = io.MultiReader(&buf, r)
	}
	f, err := createSpoolFile(dir, tempDir)
	if err != nil {
		return nil, err
	}
	sp := &spool{ra: f, file: f, keep: dir != "", path: f.Name()}
	n, err := io.Copy(f, io.LimitReader(r, limit+1))
	if err == nil && n > limit {
		err = errSpoolTooBig
	}
	if err == nil && sp.keep {
		err = f.Sync()
	}
	if err != nil {
		sp.remove()
		return nil, err
	}
	sp.size = n
	return sp, nil
}

func createSpoolFile(dir, tempDir string) (*os.File, error) {
	if dir == "" {
		f, err := os.CreateTemp(tempDir, "lethe-fcp-*")
		if err != nil {
			return nil, fmt.Errorf("fcp: temporary file: %w", err)
		}
		// Unlinked at once: the open descriptor keeps the data, and nothing is left behind
		// if the process dies.
		os.Remove(f.Name())
		return f, nil
	}
	var name [12]byte
	rand.Read(name[:])
	f, err := os.OpenFile(filepath.Join(dir, hex.EncodeToString(name[:])+".data"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("fcp: queue data file: %w", err)
	}
	return f, nil
}

// openSpool reopens a kept spool file of the persistent queue.
func openSpool(dir, name string) (*spool, error) {
	if name != filepath.Base(name) || filepath.Ext(name) != ".data" {
		return nil, fmt.Errorf("fcp: queue data file name %q", name)
	}
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &spool{ra: f, file: f, size: st.Size(), keep: true, path: f.Name()}, nil
}

// name is the file name recorded in the queue's state, "" for a spool not kept there.
func (sp *spool) name() string {
	if sp == nil || !sp.keep {
		return ""
	}
	return filepath.Base(sp.path)
}

// reader reads the whole spool from the start; each call gives an independent reader.
func (sp *spool) reader() *io.SectionReader { return io.NewSectionReader(sp.ra, 0, sp.size) }

// section reads n bytes from off, independently of other sections.
func (sp *spool) section(off, n int64) *io.SectionReader { return io.NewSectionReader(sp.ra, off, n) }

// acquire keeps the spool open for a reader until release; false if it was dropped.
func (sp *spool) acquire() bool {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.dropped {
		return false
	}
	sp.refs++
	return true
}

func (sp *spool) release() {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.refs--
	sp.finishLocked()
}

// close lets go of the spool; a kept file stays on disk for the next start.
func (sp *spool) close() { sp.drop(false) }

// remove lets go of the spool and deletes its file.
func (sp *spool) remove() { sp.drop(true) }

func (sp *spool) drop(del bool) {
	if sp == nil {
		return
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.dropped {
		return
	}
	sp.dropped, sp.delete = true, del
	sp.finishLocked()
}

func (sp *spool) finishLocked() {
	if !sp.dropped || sp.refs > 0 || sp.file == nil {
		return
	}
	sp.file.Close()
	if sp.delete && sp.keep {
		os.Remove(sp.path)
	}
	sp.file = nil
}
