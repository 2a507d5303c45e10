package node

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"
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
