package filetest

import (
	"context"
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
