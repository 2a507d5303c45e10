package filetest

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"

	"lethe/crypto"
	"lethe/fetch"
	"lethe/insert"
)

// failingAfter accepts n puts into a Store, then refuses every one.
type failingAfter struct {
	st   *Store
	left atomic.Int64
	puts atomic.Int64
}

var errRefused = errors.New("refused")

func (f *failingAfter) PutBlock(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	f.puts.Add(1)
	if f.left.Add(-1) < 0 {
		return errRefused
	}
	return f.st.PutBlock(ctx, kt, rk, block)
}

// TestBlockLogKeyFirstUploadAfter encodes a file into a block log (the key is known before
// anything is in the network), uploads it into a store that fails part-way, reopens the log
// and finishes the upload, repeating only the blocks after the last mark; the content then
// fetches whole, under the URI it was given before the upload, which is the URI a direct
// insert with the same randomness gets.
func TestBlockLogKeyFirstUploadAfter(t *testing.T) {
	data := randomBytes(21, 3<<20)
	path := filepath.Join(t.TempDir(), "up.blocks")
	log, err := insert.CreateBlockLog(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := insert.Config{Compression: insert.CompressNever, Rand: newChaCha(5)}
	uri, err := insert.File(context.Background(), log, chk(), bytes.NewReader(data), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := log.Seal(); err != nil {
		t.Fatal(err)
	}
	direct := NewStore()
	cfg.Rand = newChaCha(5)
	if want := insertBytes(t, direct, data, cfg); uri != want {
		t.Fatalf("the block log's URI %v differs from a direct insert's %v", uri, want)
	}
	_, total := log.Blocks()
	if total != int64(direct.Len()) {
		t.Fatalf("the log holds %d blocks, a direct insert makes %d", total, direct.Len())
	}
	st := NewStore()
	if _, _, err := fetchBytes(st, uri, fetch.Config{}); err == nil {
		t.Fatal("the content was found before its upload")
	}

	first := &failingAfter{st: st}
	first.left.Store(total / 2)
	err = log.Upload(context.Background(), first, insert.UploadConfig{Window: 8, Retries: 1})
	if !errors.Is(err, errRefused) {
		t.Fatalf("upload into a store that fails part-way: %v", err)
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	log, err = insert.OpenBlockLog(path)
	if err != nil {
		t.Fatal(err)
	}
	mark, _ := log.Blocks()
	if mark < total/2-4*8-8 || mark > total/2 {
		t.Errorf("after %d of %d blocks went in, the log marks %d uploaded", total/2, total, mark)
	}
	var last int64
	second := &failingAfter{st: st}
	second.left.Store(total)
	err = log.Upload(context.Background(), second, insert.UploadConfig{Progress: func(up, tot int64) { last = up }})
	if err != nil {
		t.Fatal(err)
	}
	if got := second.puts.Load(); got != total-mark {
		t.Errorf("the resumed upload put %d blocks, want the %d after the mark", got, total-mark)
	}
	if up, _ := log.Blocks(); up != total || last != total {
		t.Errorf("after the upload the log marks %d and progress said %d, want %d", up, last, total)
	}
	got, _, err := fetchBytes(st, uri, fetch.Config{})
	if err != nil {
		t.Fatal(err)
	}
	equalBytes(t, got, data)
	if err := log.Remove(); err != nil {
		t.Fatal(err)
	}
}

// TestBlockLogNotSealed: a log whose encoding was cut off cannot be uploaded.
func TestBlockLogNotSealed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cut.blocks")
	log, err := insert.CreateBlockLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := insert.File(context.Background(), log, chk(), bytes.NewReader(randomBytes(1, 100<<10)), insert.Config{}); err != nil {
		t.Fatal(err)
	}
	log.Close()
	if _, err := insert.OpenBlockLog(path); !errors.Is(err, insert.ErrBlockLogNotSealed) {
		t.Errorf("opening an unsealed log: %v, want ErrBlockLogNotSealed", err)
	}
}
