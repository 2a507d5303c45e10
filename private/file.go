package private

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// chunkSize is the plaintext of one sealed chunk of a File: large enough that the 16-byte
// tag costs nothing, small enough that a read at any offset decrypts little.
const chunkSize = 64 << 10

// sealedChunkSize is a chunk sealed: its plaintext and the tag. The buffers a File writes and
// reads through are this large, so that each chunk is sealed and opened in place.
const sealedChunkSize = chunkSize + 16

// File is data written once, from its start to its end, and then read at any offset: an
// upload spooled until it is inserted (a zip archive is read at random places). On disk it
// is a file with a random name holding the data in chunks of 64 KiB, each sealed with
// AES-256-GCM under a key drawn for this file alone and kept in memory.
//
// Why a fixed nonce is safe here: chunk i is sealed with the nonce i (big-endian), and each
// file's key seals each chunk index exactly once — a chunk is sealed only when it is full or
// the file is finished, and a finished file is never written again.
type File struct {
	f    *os.File
	aead cipher.AEAD

	mu       sync.Mutex
	pending  []byte // plaintext of the chunk being written, sealed in place; guarded by mu
	size     int64  // plaintext bytes written; guarded by mu
	finished bool   // guarded by mu
	cached   int64  // index of the chunk in plain, -1 if none; guarded by mu
	plain    []byte // that chunk's plaintext, opened in place; guarded by mu
}

// errFinished: a write after Finish.
var errFinished = errors.New("private: file already finished")

// Create makes a new, empty File in the directory.
func (d *Spool) Create() (*File, error) {
	f, err := os.OpenFile(d.randomName(), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("private: %w", err)
	}
	var key [32]byte
	rand.Read(key[:])
	return &File{f: f, aead: newGCM(key[:]), pending: make([]byte, 0, sealedChunkSize), cached: -1}, nil
}

// Write appends p.
func (s *File) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished {
		return 0, errFinished
	}
	n := 0
	for len(p) > 0 {
		k := copy(s.pending[len(s.pending):chunkSize], p)
		s.pending = s.pending[:len(s.pending)+k]
		p = p[k:]
		n += k
		s.size += int64(k)
		if len(s.pending) == chunkSize {
			if err := s.sealLocked(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// sealLocked writes the pending chunk, sealed, at its place.
func (s *File) sealLocked() error {
	index := (s.size - int64(len(s.pending))) / chunkSize
	sealed := s.aead.Seal(s.pending[:0], nonce(index), s.pending, nil)
	_, err := s.f.WriteAt(sealed, index*(chunkSize+int64(s.aead.Overhead())))
	s.pending = s.pending[:0]
	return err
}

// Finish seals what is left; the file can then be read. It is idempotent.
func (s *File) Finish() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished {
		return nil
	}
	s.finished = true
	if len(s.pending) > 0 {
		return s.sealLocked()
	}
	return nil
}

// Size is the number of bytes written.
func (s *File) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// ReadAt reads the finished file at off (io.ReaderAt).
func (s *File) ReadAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.finished {
		return 0, errors.New("private: file read before it is finished")
	}
	if off < 0 {
		return 0, errors.New("private: negative offset")
	}
	n := 0
	for len(p) > 0 {
		if off >= s.size {
			return n, io.EOF
		}
		index := off / chunkSize
		if err := s.loadLocked(index); err != nil {
			return n, err
		}
		k := copy(p, s.plain[off-index*chunkSize:])
		p = p[k:]
		off += int64(k)
		n += k
	}
	return n, nil
}

// loadLocked decrypts chunk index into s.plain, unless it is there already.
func (s *File) loadLocked(index int64) error {
	if s.cached == index {
		return nil
	}
	overhead := int64(s.aead.Overhead())
	plainLen := min(chunkSize, s.size-index*chunkSize)
	if s.plain == nil {
		s.plain = make([]byte, sealedChunkSize)
	}
	s.cached = -1
	buf := s.plain[:plainLen+overhead]
	if _, err := s.f.ReadAt(buf, index*(chunkSize+overhead)); err != nil {
		return fmt.Errorf("private: read chunk %d: %w", index, err)
	}
	plain, err := s.aead.Open(buf[:0], nonce(index), buf, nil)
	if err != nil {
		return fmt.Errorf("private: chunk %d does not open: %w", index, err)
	}
	s.plain, s.cached = plain, index
	return nil
}

// Reader reads the finished file from its start.
func (s *File) Reader() io.Reader { return io.NewSectionReader(s, 0, s.Size()) }

// Remove closes and deletes the file.
func (s *File) Remove() error {
	name := s.f.Name()
	s.f.Close()
	return os.Remove(name)
}

func nonce(index int64) []byte {
	var n [12]byte
	binary.BigEndian.PutUint64(n[4:], uint64(index))
	return n[:]
}
