package node

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"hash"
	"io"
)

// errFileChanged ends an insert whose file, read where it lies (UploadFrom=disk), held other
// bytes when it was encoded than when it was hashed for the insert's keys (spec §19.5).
var errFileChanged = errors.New("the file changed while the node read it: nothing was inserted; insert it again once nothing writes to it")

// inPlace hashes size bytes of a file the node may read again (fcp.PutRequest.DataAt) and
// keeps no copy of them: the insert reads the file a second time, through reread, which
// checks that it still holds what was hashed.
func inPlace(at io.ReaderAt, size int64) (*spooled, error) {
	h := sha256.New()
	if err := copyHashing(io.Discard, h, io.NewSectionReader(at, 0, size), size); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errFileChanged // shorter than when the server opened it
		}
		return nil, err
	}
	sp := &spooled{at: at, size: size}
	copy(sp.sum[:], h.Sum(nil))
	return sp, nil
}

// reread reads an in-place file from its start and, with its last byte, fails with
// errFileChanged unless the bytes read hash to want: the content encoded is the content the
// keys were derived from, or the insert fails before its URI is reported.
type reread struct {
	r    *io.SectionReader
	h    hash.Hash
	want [32]byte
	err  error // sticky: io.EOF once verified, else the failure
}

func newReread(at io.ReaderAt, size int64, want [32]byte) *reread {
	return &reread{r: io.NewSectionReader(at, 0, size), h: sha256.New(), want: want}
}

func (v *reread) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	left := v.r.Size() - v.offset()
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	switch {
	case v.offset() == v.r.Size():
		// The last byte: those of this read go out only if the whole is what was hashed.
		if v.err = v.verify(); v.err != io.EOF {
			return 0, v.err
		}
		return n, nil
	case errors.Is(err, io.EOF):
		v.err = errFileChanged // shorter than when it was hashed
		return n, v.err
	case err != nil:
		v.err = err
	}
	return n, err
}

// WriteTo is what io.Copy uses: the file read in large pieces, hashed on one goroutine while
// the piece before goes to w on another (copyHashing).
func (v *reread) WriteTo(w io.Writer) (int64, error) {
	if v.err != nil || v.offset() != 0 {
		return io.Copy(w, struct{ io.Reader }{v})
	}
	size := v.r.Size()
	if err := copyHashing(w, v.h, v.r, size); err != nil {
		if errors.Is(err, io.EOF) {
			err = errFileChanged
		}
		v.err = err
		return 0, err
	}
	if v.err = v.verify(); v.err != io.EOF {
		return size, v.err
	}
	return size, nil
}

func (v *reread) offset() int64 {
	off, _ := v.r.Seek(0, io.SeekCurrent)
	return off
}

func (v *reread) verify() error {
	if subtle.ConstantTimeCompare(v.h.Sum(nil), v.want[:]) != 1 {
		return errFileChanged
	}
	return io.EOF
}
