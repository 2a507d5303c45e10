package node

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"lethe/private"
)

func TestInsertKeys(t *testing.T) {
	dir := t.TempDir()
	k, err := loadInsertKeys(filepath.Join(dir, secretFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := loadInsertKeys(filepath.Join(dir, secretFile), nil)
	if err != nil || again.secret != k.secret {
		t.Fatalf("the secret did not survive a reload: %v", err)
	}
	other, _ := loadInsertKeys(filepath.Join(t.TempDir(), secretFile), nil)
	read := func(r io.Reader) []byte {
		b := make([]byte, 64)
		io.ReadFull(r, b)
		return b
	}
	sum := bytes.Repeat([]byte{7}, 32)
	a := read(k.stream("put", sum, "CHK@", "text/plain"))
	if !bytes.Equal(a, read(again.stream("put", sum, "CHK@", "text/plain"))) {
		t.Error("the same insert through the same node drew different keys")
	}
	if bytes.Equal(a, read(other.stream("put", sum, "CHK@", "text/plain"))) {
		t.Error("two nodes drew the same keys for the same content")
	}
	for _, parts := range [][]string{{"CHK@", "text/html"}, {"CHK@text/", "plain"}} {
		if bytes.Equal(a, read(k.stream("put", sum, parts...))) {
			t.Errorf("parts %q drew the same keys as CHK@, text/plain", parts)
		}
	}
}

// Issue 16, finding 6: the insert secret is refused while other users may read it, as the
// identity file is; it is used again once its mode is fixed.
func TestInsertSecretPermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), secretFile)
	if _, err := loadInsertKeys(path, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadInsertKeys(path, nil); !errors.Is(err, private.ErrSecretPermissions) {
		t.Fatalf("an insert secret of mode 0644: %v, want ErrSecretPermissions", err)
	}
	os.Chmod(path, 0o600)
	if _, err := loadInsertKeys(path, nil); err != nil {
		t.Fatalf("after chmod 600: %v", err)
	}
}

// TestCopyHashing: the spool's copy writes and hashes exactly the bytes it was told to, for
// sizes around its pieces, and says so when the data ends short.
func TestCopyHashing(t *testing.T) {
	data := randomBytes(4*spoolPiece+7, 3)
	for _, size := range []int{0, 1, spoolPiece - 1, spoolPiece, spoolPiece + 1, 4*spoolPiece + 7} {
		var out bytes.Buffer
		h := sha256.New()
		if err := copyHashing(&out, h, bytes.NewReader(data), int64(size)); err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if want := sha256.Sum256(data[:size]); !bytes.Equal(out.Bytes(), data[:size]) || !bytes.Equal(h.Sum(nil), want[:]) {
			t.Errorf("%d bytes: copied %d bytes, or a hash not of them", size, out.Len())
		}
	}
	for _, short := range []int{0, 10, spoolPiece + 10} {
		err := copyHashing(io.Discard, sha256.New(), bytes.NewReader(data[:short]), spoolPiece+20)
		if !errors.Is(err, io.EOF) {
			t.Errorf("data ending after %d bytes of %d: %v, want io.EOF", short, spoolPiece+20, err)
		}
	}
	full := &fullWriter{room: 2*spoolPiece + 5}
	if err := copyHashing(full, sha256.New(), bytes.NewReader(data), int64(len(data))); !errors.Is(err, errFull) {
		t.Errorf("a spool whose writes fail: %v, want %v", err, errFull)
	}
}

// fullWriter takes room bytes, then fails.
type fullWriter struct{ room int }

var errFull = errors.New("no room")

func (w *fullWriter) Write(p []byte) (int, error) {
	if len(p) > w.room {
		return 0, errFull
	}
	w.room -= len(p)
	return len(p), nil
}
