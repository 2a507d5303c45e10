package filetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"lethe/fetch"
	"lethe/insert"
	"lethe/metadata"
)

// TestResolveDir: a path that ends at a directory says so, whether the directory has a
// default file (served in its place) or not (listed), also when a redirect leads there; a
// path that names a file does not.
func TestResolveDir(t *testing.T) {
	st := NewStore()
	other := insertSite(t, st, chk(), map[string][]byte{"sub/index.html": []byte("<p>other</p>")})
	uri := insertSite(t, st, chk(), siteFiles(), insert.Entry{Path: "elsewhere", Redirect: other.WithPath("/sub")})
	f := fetch.New(st, fetch.Config{})
	for path, want := range map[string]struct {
		dir  bool
		kind metadata.Kind
	}{
		"":                        {true, metadata.KindInline},
		"/":                       {true, metadata.KindInline},
		"/index.html":             {false, metadata.KindInline},
		"/docs":                   {true, metadata.KindInline},
		"/docs/":                  {true, metadata.KindInline},
		"/docs/index.html":        {false, metadata.KindInline},
		"/docs/guide":             {true, metadata.KindManifest},
		"/docs/guide/données.txt": {false, metadata.KindInline},
		"/elsewhere":              {true, metadata.KindInline},
	} {
		doc, dir, err := f.ResolveDir(context.Background(), uri.WithPath(path))
		if err != nil {
			t.Errorf("%q: %v", path, err)
			continue
		}
		if dir != want.dir || doc.Kind != want.kind {
			t.Errorf("%q: dir %v, %v; want %v, %v", path, dir, doc.Kind, want.dir, want.kind)
		}
	}
}

// TestSingleFileName: CHK@…/photo.jpg, a single file with its name after the key (what an
// insert with a name returns), opens the file; a longer path under a single file is not found.
func TestSingleFileName(t *testing.T) {
	st := NewStore()
	content := []byte("a single file with a name")
	uri, err := insert.File(context.Background(), st, chk(), bytes.NewReader(content), insert.Config{Name: "photo.jpg"})
	if err != nil {
		t.Fatal(err)
	}
	f := fetch.New(st, fetch.Config{})
	var got bytes.Buffer
	if _, err := f.Fetch(context.Background(), uri.WithPath("/photo.jpg"), &got); err != nil || !bytes.Equal(got.Bytes(), content) {
		t.Fatalf("fetch of the file by its name: %v, %q", err, got.Bytes())
	}
	if _, err := f.Fetch(context.Background(), uri.WithPath("/photo.jpg/more"), io.Discard); !errors.Is(err, fetch.ErrNotFound) {
		t.Errorf("a path under a single file: err = %v, want ErrNotFound", err)
	}
}
