package proxy

import (
	"bytes"
	"context"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"lethe/crypto"
	"lethe/filetest"
)

// heldPutter is the test store as a Putter whose puts wait, once armed, until released.
type heldPutter struct {
	st      *filetest.Store
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func (h *heldPutter) PutBlock(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	h.once.Do(func() { close(h.started) })
	select {
	case <-h.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return h.st.PutBlock(ctx, kt, rk, block)
}

// stateFiles lists every regular file under dir with its content.
func stateFiles(tb testing.TB, dir string) map[string][]byte {
	tb.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[p] = b
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// copyTree copies dir to a new directory: what a crash at this moment leaves on disk.
func copyTree(tb testing.TB, dir string) string {
	tb.Helper()
	to := tb.TempDir()
	for p, b := range stateFiles(tb, dir) {
		rel, _ := filepath.Rel(dir, p)
		os.MkdirAll(filepath.Dir(filepath.Join(to, rel)), 0o700)
		if err := os.WriteFile(filepath.Join(to, rel), b, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return to
}

// Issue 16, finding 6: a site uploaded through the proxy is kept, while it is inserted, so
// that the state directory shows neither its files' content nor their names, and what a crash
// leaves is removed at the next start.
func TestUploadSpoolShowsNothing(t *testing.T) {
	state := t.TempDir()
	held := &heldPutter{started: make(chan struct{}), release: make(chan struct{})}
	p := newTestProxy(t, Config{StateDir: state, Putter: held})
	held.st = p.st
	marker := "lethe-spool-marker-8c1f2a"
	name := "secret-page-" + marker + ".html"
	content := bytes.Repeat([]byte(marker+" is on this page. "), 8000) // several chunks
	token := p.token(t)
	posted := make(chan string, 1)
	go func() {
		_, page := p.postInsert(t, []formPart{{field: "token", value: token}, {field: "what", value: "site"},
			{field: "target", value: "chk"}, {field: "files", file: name, data: content}, {field: "files", file: "index.html", data: []byte("<p>home</p>")}})
		posted <- page
	}()
	<-held.started

	look := func(when string, dir string) {
		t.Helper()
		for path, b := range stateFiles(t, dir) {
			if strings.Contains(path, marker) {
				t.Errorf("%s: a file is named after an uploaded file: %s", when, path)
			}
			if bytes.Contains(b, []byte(marker)) {
				t.Errorf("%s: %s holds an uploaded file's name or content", when, path)
			}
		}
	}
	look("while the site is inserted", state)
	crashed := copyTree(t, state)
	close(held.release)
	page := <-posted
	resultURI(t, page)
	look("after the insert", state)
	if left := stateFiles(t, filepath.Join(state, "spool")); len(left) != 0 {
		t.Errorf("%d spooled files left after the insert", len(left))
	}

	// Started again on what the crash left: the leftovers go at once.
	if len(stateFiles(t, filepath.Join(crashed, "spool"))) == 0 {
		t.Fatal("the crash left no spooled files to test with")
	}
	s, err := New(Config{StateDir: crashed})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if left := stateFiles(t, filepath.Join(crashed, "spool")); len(left) != 0 {
		t.Errorf("%d files of a crashed run left after the start", len(left))
	}
}

// Issue 16, finding 6: the blocks of a large file fetched in the background are kept under
// names that say nothing and sealed, so that neither a file's name nor its content (whose
// hash is the routing key) tells which blocks they are.
func TestDownloadSpoolShowsNothing(t *testing.T) {
	state := t.TempDir()
	p := newTestProxy(t, Config{StateDir: state})
	f := newBigFile(t, p, "film.mp4", 9<<20, 3)
	if resp, _ := p.get(t, p.pastWarning(t, pathOf(f.uri)), navigate); resp.StatusCode != 202 && resp.StatusCode != 200 {
		t.Fatalf("large file in a tab: %d, want the progress page or the file", resp.StatusCode)
	}
	// A finished download keeps its blocks for the browser.
	waitFor(t, func() bool { return p.xfers.finished(f.uri.String()) != nil })
	var blocks [][]byte
	var names []string
	for _, seg := range f.segs {
		for _, rk := range seg {
			b, err := p.st.GetBlock(context.Background(), crypto.CHK, rk, 0)
			if err != nil {
				t.Fatal(err)
			}
			blocks = append(blocks, b)
			names = append(names, hex.EncodeToString(rk[:]), rk.String())
		}
	}
	held := 0
	for _, b := range stateFiles(t, state) {
		held += len(b)
	}
	if want := len(blocks) * len(blocks[0]) / 2; held < want {
		t.Fatalf("%d bytes in the state directory for a download of %d blocks: it did not keep them there", held, len(blocks))
	}
	for path, b := range stateFiles(t, state) {
		for _, n := range names {
			if strings.Contains(path, n) {
				t.Fatalf("a file is named by a block's routing key: %s", path)
			}
		}
		for _, blk := range blocks {
			if bytes.Contains(b, blk[1000:1032]) {
				t.Fatalf("%s holds a block as it travels: its hash is the routing key", path)
			}
		}
	}
}
