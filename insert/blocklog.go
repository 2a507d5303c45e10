package insert

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"lethe/crypto"
)

// BlockLog keeps on disk the blocks an insert made, so that the URI can be handed out as soon
// as the content is encoded and the blocks uploaded after, resuming where an upload stopped
// (spec §13.6). Insert into it (it is a BlockPutter), Seal it, then Upload it.
//
// The file is a header and one slot per block, in the order the blocks were made (the top
// block last):
//
//	header: magic "lethe-blocklog-1" (16) ‖ sealed count (8) ‖ uploaded (8)
//	slot:   key type (1) ‖ block length (2) ‖ routing key (32) ‖ block, zero-padded to a CHK block
//
// "sealed count" is 0 until Seal, then the number of slots; "uploaded" is how many slots from
// the first are known to be in the network (blocks after it may be too). The blocks are what
// travels: encrypted, readable only with the URI.
type BlockLog struct {
	f     *os.File
	path  string
	total int64        // slots, once sealed
	done  atomic.Int64 // slots from the first known uploaded

	// PutBlock gathers slots into batches and writes a batch at a time, one write after the
	// other: one system call per batch instead of one per block, and no writers of the same
	// file contending in the kernel. Every blockLogWritebackEvery bytes it asks the kernel
	// to start writing them to the disk, so that the disk is written while the content is
	// still being encoded and Seal's fsync has little left to wait for.
	mu      sync.Mutex // guards the fields up to writeMu
	next    int64      // slots taken by PutBlock
	batch   []byte     // slots gathered and not yet written, from slot batchAt
	batchAt int64
	err     error // the first write that failed: the log is then useless

	writeMu   sync.Mutex // one batch written at a time; guards unwritten
	unwritten int64      // bytes written since the kernel was last asked to write them back
}

const (
	blockLogMagic  = "lethe-blocklog-1"
	blockLogHeader = len(blockLogMagic) + 8 + 8
	blockLogSlot   = 1 + 2 + crypto.KeySize + crypto.CHKBlockSize

	// blockLogBatch is how many slots PutBlock gathers before it writes them (about 1 MiB).
	blockLogBatch = 32
	// blockLogWritebackEvery is how many bytes are written between two requests to start
	// writing them back.
	blockLogWritebackEvery = 32 << 20
)

// blockLogBatches recycles the buffers slots are gathered in.
var blockLogBatches = sync.Pool{New: func() any { b := make([]byte, 0, blockLogBatch*blockLogSlot); return &b }}

// ErrBlockLogNotSealed: the file holds no finished encoding (it was cut off while the content
// was encoded): nothing in it can be uploaded, since its URI was never handed out.
var ErrBlockLogNotSealed = errors.New("block log was not sealed: its encoding did not finish")

// CreateBlockLog makes a new, empty block log at path (mode 0600); the file must not exist.
func CreateBlockLog(path string) (*BlockLog, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("insert: create block log: %w", err)
	}
	var h [blockLogHeader]byte
	copy(h[:], blockLogMagic)
	if _, err := f.WriteAt(h[:], 0); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("insert: write block log %q: %w", path, err)
	}
	return &BlockLog{f: f, path: path}, nil
}

// OpenBlockLog opens a sealed block log to upload what is left of it.
func OpenBlockLog(path string) (*BlockLog, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("insert: open block log: %w", err)
	}
	l := &BlockLog{f: f, path: path}
	if err := l.readHeader(); err != nil {
		f.Close()
		return nil, fmt.Errorf("insert: block log %q: %w", path, err)
	}
	return l, nil
}

func (l *BlockLog) readHeader() error {
	var h [blockLogHeader]byte
	if _, err := l.f.ReadAt(h[:], 0); err != nil {
		return fmt.Errorf("read header: %w", err)
	}
	if !bytes.Equal(h[:len(blockLogMagic)], []byte(blockLogMagic)) {
		return errors.New("not a block log")
	}
	total := int64(binary.BigEndian.Uint64(h[16:]))
	done := int64(binary.BigEndian.Uint64(h[24:]))
	if total == 0 {
		return ErrBlockLogNotSealed
	}
	st, err := l.f.Stat()
	if err != nil {
		return err
	}
	if total > (st.Size()-int64(blockLogHeader))/blockLogSlot || done > total {
		return fmt.Errorf("header says %d blocks, %d uploaded, in %d bytes", total, done, st.Size())
	}
	l.total = total
	l.next = total
	l.done.Store(done)
	return nil
}

// PutBlock puts a block into the next slot; it is safe for concurrent use. The slot reaches
// the file with the batch it is gathered in, at the latest when the log is sealed.
func (l *BlockLog) PutBlock(_ context.Context, kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	if len(block) > crypto.CHKBlockSize {
		return fmt.Errorf("insert: a %d-byte block does not fit a block log slot", len(block))
	}
	l.mu.Lock()
	if l.total != 0 {
		l.mu.Unlock()
		return errors.New("insert: block log is sealed")
	}
	if l.err != nil {
		err := l.err
		l.mu.Unlock()
		return err
	}
	if l.batch == nil {
		l.batch = (*blockLogBatches.Get().(*[]byte))[:0]
		l.batchAt = l.next
	}
	// Whole slots, zero-padded, so that the file's size counts them.
	n := len(l.batch)
	slot := l.batch[n : n+blockLogSlot]
	slot[0] = byte(kt)
	binary.BigEndian.PutUint16(slot[1:], uint16(len(block)))
	copy(slot[3:], rk[:])
	clear(slot[3+crypto.KeySize+copy(slot[3+crypto.KeySize:], block):])
	l.batch = l.batch[:n+blockLogSlot]
	l.next++
	if len(l.batch) < blockLogBatch*blockLogSlot {
		l.mu.Unlock()
		return nil
	}
	batch, at := l.batch, l.batchAt
	l.batch = nil
	l.mu.Unlock()
	return l.write(batch, at)
}

func (l *BlockLog) doneWithBlocks() {} // PutBlock copies the block into its batch

// write writes a batch of slots from slot at and returns its buffer to the pool. Batches are
// written one at a time, in whatever order they come: each goes to its own place.
func (l *BlockLog) write(batch []byte, at int64) error {
	l.writeMu.Lock()
	_, err := l.f.WriteAt(batch, int64(blockLogHeader)+at*blockLogSlot)
	if err == nil {
		l.unwritten += int64(len(batch))
		if l.unwritten >= blockLogWritebackEvery {
			l.unwritten = 0
			startWriteback(l.f)
		}
	}
	l.writeMu.Unlock()
	blockLogBatches.Put(&batch)
	if err != nil {
		err = fmt.Errorf("insert: write block log %q: %w", l.path, err)
		l.fail(err)
	}
	return err
}

// fail records the first error that makes the log useless.
func (l *BlockLog) fail(err error) {
	l.mu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.mu.Unlock()
}

// Seal marks the encoding finished: the blocks are written and on disk (fsync) before the
// header says so, so that a sealed log is always whole. It must not run concurrently with
// PutBlock.
func (l *BlockLog) Seal() error {
	l.mu.Lock()
	batch, at := l.batch, l.batchAt
	l.batch = nil
	l.mu.Unlock()
	if batch != nil {
		if err := l.write(batch, at); err != nil {
			return err
		}
	}
	l.mu.Lock()
	err := l.err
	l.mu.Unlock()
	if err != nil {
		return err
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("insert: block log %q: %w", l.path, err)
	}
	l.mu.Lock()
	l.total = l.next
	l.mu.Unlock()
	if err := l.writeCount(16, l.total); err != nil {
		return err
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("insert: block log %q: %w", l.path, err)
	}
	return nil
}

func (l *BlockLog) writeCount(off int64, v int64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(v))
	if _, err := l.f.WriteAt(b[:], off); err != nil {
		return fmt.Errorf("insert: write block log %q: %w", l.path, err)
	}
	return nil
}

// Blocks is how many blocks a sealed log holds, and how many of them are known uploaded.
func (l *BlockLog) Blocks() (uploaded, total int64) { return l.done.Load(), l.total }

// Path is the log's file.
func (l *BlockLog) Path() string { return l.path }

// Close closes the file, which stays on disk. Slots not yet written are dropped: a log that
// is not sealed is never uploaded.
func (l *BlockLog) Close() error { return l.f.Close() }

// Remove closes the file and deletes it: once uploaded, or when its encoding failed.
func (l *BlockLog) Remove() error {
	l.Close()
	return os.Remove(l.path)
}

// UploadConfig is how Upload runs.
type UploadConfig struct {
	// Window is how many blocks are handed to the putter at once (default 32).
	Window int
	// Retries is how many more times a failed PutBlock is tried (default 2).
	Retries int
	// Progress, if set, is called after each block with the blocks uploaded and the total,
	// never concurrently.
	Progress func(uploaded, total int64)
}

// uploadMarkEvery is how many blocks go by between two writes of the uploaded count: a crash
// makes the next upload repeat at most this many blocks and those in flight.
const uploadMarkEvery = 64

// uploadLag bounds, in windows, how far ahead of the first block not yet in an upload goes.
const uploadLag = 4

// Upload hands every block not yet known uploaded to p, Window at a time, and returns once
// all are in (the network holds the content) or at the first block that fails Retries+1
// times. It records its progress in the file, so that Upload after an interruption goes on
// from where it was.
func (l *BlockLog) Upload(ctx context.Context, p BlockPutter, cfg UploadConfig) error {
	if l.total == 0 {
		return ErrBlockLogNotSealed
	}
	in := newInserter(p, Config{Window: cfg.Window, Retries: cfg.Retries})
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var (
		mu       sync.Mutex
		finished = map[int64]bool{} // slots put beyond the low mark; guarded by mu
		low      = l.done.Load()    // every slot before it is in; guarded by mu
		marked   = low              // the low mark last written to the file; guarded by mu
		werr     error              // guarded by mu
	)
	slots := make(chan int64)
	advanced := make(chan struct{}, 1) // a token when the low mark moves
	var wg sync.WaitGroup
	for range in.cfg.Window {
		wg.Go(func() {
			for i := range slots {
				if ctx.Err() != nil {
					continue
				}
				// A fresh buffer for each block: a putter may keep the block it is given.
				kt, rk, block, err := l.read(i, make([]byte, blockLogSlot))
				if err == nil {
					err = in.put(ctx, kt, rk, block)
				}
				if err != nil {
					cancel(err)
					continue
				}
				mu.Lock()
				finished[i] = true
				for finished[low] {
					delete(finished, low)
					low++
				}
				l.done.Store(low)
				select { // after the store: the dispatcher reads it when woken
				case advanced <- struct{}{}:
				default:
				}
				if low-marked >= uploadMarkEvery || low == l.total {
					if err := l.writeCount(24, low); err != nil && werr == nil {
						werr = err
					}
					marked = low
				}
				if cfg.Progress != nil {
					cfg.Progress(low+int64(len(finished)), l.total)
				}
				mu.Unlock()
			}
		})
	}
	// No block goes out more than uploadLag windows past the first not yet in: that bounds
	// what a crash makes the next upload repeat, and the slots remembered meanwhile.
	lag := int64(uploadLag * in.cfg.Window)
	for i := l.done.Load(); i < l.total && ctx.Err() == nil; i++ {
		for i >= l.done.Load()+lag && ctx.Err() == nil {
			select {
			case <-advanced:
			case <-ctx.Done():
			}
		}
		select {
		case slots <- i:
		case <-ctx.Done():
		}
	}
	close(slots)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if low != marked {
		if err := l.writeCount(24, low); err != nil && werr == nil {
			werr = err
		}
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return werr
}

// read reads slot i into buf and returns its block, which aliases buf.
func (l *BlockLog) read(i int64, buf []byte) (crypto.KeyType, crypto.RoutingKey, []byte, error) {
	if _, err := l.f.ReadAt(buf, int64(blockLogHeader)+i*blockLogSlot); err != nil {
		return 0, crypto.RoutingKey{}, nil, fmt.Errorf("insert: read block log %q: %w", l.path, err)
	}
	n := int(binary.BigEndian.Uint16(buf[1:]))
	if n > crypto.CHKBlockSize {
		return 0, crypto.RoutingKey{}, nil, fmt.Errorf("insert: block log %q: slot %d is damaged", l.path, i)
	}
	var rk crypto.RoutingKey
	copy(rk[:], buf[3:3+crypto.KeySize])
	return crypto.KeyType(buf[0]), rk, buf[3+crypto.KeySize : 3+crypto.KeySize+n], nil
}
