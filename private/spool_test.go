package private

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func pattern(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// files lists every file under dir with its content.
func files(tb testing.TB, dir string) map[string][]byte {
	tb.Helper()
	out := map[string][]byte{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			out[p] = b
		}
		return err
	})
	return out
}

// A File gives back what was written, whole and at any offset, for sizes at the edges of a
// chunk, and the disk holds none of it.
func TestFile(t *testing.T) {
	d, err := OpenSpool(filepath.Join(t.TempDir(), "spool"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 3*chunkSize + 5} {
		data := pattern(n)
		f, err := d.Create()
		if err != nil {
			t.Fatal(err)
		}
		// Written in uneven pieces.
		for rest := data; len(rest) > 0; {
			k := min(len(rest), 1+len(rest)/3)
			if _, err := f.Write(rest[:k]); err != nil {
				t.Fatal(err)
			}
			rest = rest[k:]
		}
		if _, err := f.ReadAt(make([]byte, 1), 0); err == nil && n > 0 {
			t.Errorf("%d bytes: read before Finish", n)
		}
		if err := f.Finish(); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("x")); err == nil {
			t.Errorf("%d bytes: a write after Finish", n)
		}
		got, err := io.ReadAll(f.Reader())
		if err != nil || !bytes.Equal(got, data) || f.Size() != int64(n) {
			t.Fatalf("%d bytes: read back %d bytes, %v", n, len(got), err)
		}
		r := rand.New(rand.NewPCG(1, uint64(n)))
		for range 50 {
			if n == 0 {
				break
			}
			off := r.IntN(n)
			ln := r.IntN(n-off) + 1
			buf := make([]byte, ln)
			if _, err := f.ReadAt(buf, int64(off)); err != nil && err != io.EOF || !bytes.Equal(buf, data[off:off+ln]) {
				t.Fatalf("%d bytes: ReadAt(%d, %d): %v", n, ln, off, err)
			}
		}
		for path, b := range files(t, d.Path()) {
			if n >= 32 && bytes.Contains(b, data[n/2:n/2+32]) {
				t.Errorf("%d bytes: %s holds the plaintext", n, path)
			}
		}
		if err := f.Remove(); err != nil {
			t.Fatal(err)
		}
	}
	if left := files(t, d.Path()); len(left) != 0 {
		t.Errorf("files left after Remove: %v", left)
	}
}

// A damaged chunk is an error, never other bytes.
func TestFileTampered(t *testing.T) {
	d, err := OpenSpool(filepath.Join(t.TempDir(), "spool"))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := d.Create()
	f.Write(pattern(2 * chunkSize))
	f.Finish()
	for path, b := range files(t, d.Path()) {
		b[chunkSize+100] ^= 1 // inside the second chunk
		os.WriteFile(path, b, 0o600)
	}
	if _, err := f.ReadAt(make([]byte, 10), chunkSize+5); err == nil {
		t.Error("a damaged chunk was read")
	}
	if _, err := f.ReadAt(make([]byte, 10), 5); err != nil {
		t.Errorf("the undamaged chunk: %v", err)
	}
	f.Remove()
}

// Blocks come back under their names; the directory holds one file, named by neither the
// name nor its hash, with no plaintext; a record does not pass for another block's.
func TestBlocks(t *testing.T) {
	d, err := OpenSpool(filepath.Join(t.TempDir(), "spool"))
	if err != nil {
		t.Fatal(err)
	}
	name, other := []byte("routing key one"), []byte("routing key two")
	block := pattern(32 << 10)
	if err := d.PutBlock(name, block); err != nil {
		t.Fatal(err)
	}
	if got, ok := d.GetBlock(name); !ok || !bytes.Equal(got, block) {
		t.Fatal("the block did not come back")
	}
	if _, ok := d.GetBlock(other); ok {
		t.Fatal("a block that was never kept came back")
	}
	second := pattern(1000)
	if err := d.PutBlock(other, second); err != nil {
		t.Fatal(err)
	}
	if got, ok := d.GetBlock(other); !ok || !bytes.Equal(got, second) {
		t.Fatal("the second block did not come back")
	}
	if got, ok := d.GetBlock(name); !ok || !bytes.Equal(got, block) {
		t.Fatal("the first block did not come back after the second")
	}
	fs := files(t, d.Path())
	if len(fs) != 1 {
		t.Fatalf("%d files for two blocks, want the one log", len(fs))
	}
	for path, b := range fs {
		if strings.Contains(path, "routing") || bytes.Contains(b, block[100:132]) || bytes.Contains(b, second[100:132]) {
			t.Errorf("%s shows a block", path)
		}
		if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (%v), want 0600", path, info.Mode().Perm(), err)
		}
	}
	// A record pointed to under another block's name does not open.
	d.log.mu.Lock()
	d.log.at[d.keyedName(other)] = d.log.at[d.keyedName(name)]
	d.log.mu.Unlock()
	if _, ok := d.GetBlock(other); ok {
		t.Error("a block's record passed for another block")
	}
	if err := d.PutBlock(name, make([]byte, MaxBlock+1)); err == nil {
		t.Error("a block over MaxBlock was kept")
	}
	d.Remove()
	if _, ok := d.GetBlock(name); ok {
		t.Error("a block came back after Remove")
	}
	if err := d.PutBlock(name, block); err == nil {
		t.Error("a block was kept after Remove")
	}
}

// Open removes what an earlier run left; Sub directories have keys of their own.
func TestOpenClearsLeftovers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool")
	d, err := OpenSpool(path)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := d.Sub()
	if err != nil {
		t.Fatal(err)
	}
	sub.PutBlock([]byte("k"), []byte("left behind by a crash"))
	if _, ok := d.GetBlock([]byte("k")); ok {
		t.Error("a sub-directory's block opened in its parent")
	}
	d2, err := OpenSpool(path)
	if err != nil {
		t.Fatal(err)
	}
	if left := files(t, d2.Path()); len(left) != 0 {
		t.Errorf("Open left %d files of the earlier run", len(left))
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("spool directory: %v, %v", fi.Mode(), err)
	}
}
