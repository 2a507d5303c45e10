package filetest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"lethe/crypto"
	"lethe/fetch"
	"lethe/insert"
	"lethe/metadata"
)

// siteFiles is a tree with nested folders, non-ASCII names, files of every storage class:
// packed into the manifest, in a top block of their own, split with the splitfile document in
// the manifest, and split with a redirect to a document of their own.
func siteFiles() map[string][]byte {
	return map[string][]byte{
		"index.html":                  []byte("<html><body>home</body></html>"),
		"style.css":                   []byte("body { color: black }"),
		"docs/index.html":             []byte("<p>docs</p>"),
		"docs/guide/intro.md":         textBytes(1, 9000),
		"docs/guide/données.txt":      []byte("des données"),
		"médias/日本語/写真.png":           randomBytes(2, 100000),
		"médias/video.mp4":            randomBytes(3, 9*seg/2),
		"empty":                       {},
		"a-b/c":                       []byte("a-b sorts before a/"),
		"a/b":                         []byte("a/"),
		"deep/1/2/3/4/5/6/7/8/9/leaf": []byte("leaf"),
	}
}

func insertSite(tb testing.TB, st *Store, target crypto.InsertURI, files map[string][]byte, extra ...insert.Entry) crypto.RequestURI {
	tb.Helper()
	fsys := fstest.MapFS{}
	for p, b := range files {
		fsys[p] = &fstest.MapFile{Data: b}
	}
	dir, err := insert.DirFS(fsys)
	if err != nil {
		tb.Fatal(err)
	}
	dir.Entries = append(dir.Entries, extra...)
	uri, err := insert.Directory(context.Background(), st, target, dir, insert.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	return uri
}

func fetchPath(st *Store, uri crypto.RequestURI, path string) ([]byte, fetch.Result, error) {
	return fetchBytes(st, uri.WithPath(path), fetch.Config{})
}

func TestSiteRoundTrip(t *testing.T) {
	st := NewStore()
	files := siteFiles()
	external := insertBytes(t, st, []byte("elsewhere"), insert.Config{})
	uri := insertSite(t, st, chk(), files, insert.Entry{Path: "links/elsewhere.txt", Redirect: external})
	for p, want := range files {
		got, res, err := fetchPath(st, uri, "/"+p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		equalBytes(t, got, want)
		if wantType := metadata.MIMEType(p, want); res.ContentType != wantType {
			t.Errorf("%s: ContentType %q, want %q", p, res.ContentType, wantType)
		}
	}
	for path, want := range map[string]string{
		"":                     "<html><body>home</body></html>",
		"/":                    "<html><body>home</body></html>",
		"/docs":                "<p>docs</p>",
		"/docs/":               "<p>docs</p>",
		"/links/elsewhere.txt": "elsewhere",
	} {
		got, _, err := fetchPath(st, uri, path)
		if err != nil || string(got) != want {
			t.Errorf("%q: %q, %v; want %q", path, got, err, want)
		}
	}
	for path, want := range map[string]error{
		"/missing.html":       fetch.ErrNotFound,
		"/docs/guide/nope.md": fetch.ErrNotFound,
		"/index.html/x":       fetch.ErrNotFound,
		"/docs/guide":         fetch.ErrIsDirectory,
	} {
		if _, _, err := fetchPath(st, uri, path); !errors.Is(err, want) {
			t.Errorf("%q: %v, want %v", path, err, want)
		}
	}
	// A directory without a default can be listed.
	doc, err := fetch.New(st, fetch.Config{}).Resolve(context.Background(), uri.WithPath("/docs/guide"))
	if err != nil || doc.Kind != metadata.KindManifest || len(doc.Entries) != 2 || doc.Entries[0].Name != "données.txt" {
		t.Errorf("listing /docs/guide: %+v, %v", doc, err)
	}
}

// TestSitePacking: small files travel inside the manifest, so fetching the site's index
// takes exactly one request for a small site.
func TestSitePacking(t *testing.T) {
	st := NewStore()
	uri := insertSite(t, st, chk(), map[string][]byte{
		"index.html": []byte("<p>hi</p>"),
		"a.css":      []byte("p{}"),
	})
	if st.Len() != 1 {
		t.Errorf("a site of two tiny files took %d blocks, want 1", st.Len())
	}
	st.ResetCounts()
	for _, p := range []string{"/", "/a.css"} {
		if _, _, err := fetchPath(st, uri, p); err != nil {
			t.Fatal(err)
		}
	}
	if n := st.TotalGets(); n != 2 {
		t.Errorf("two fetches from a packed site made %d requests, want 2", n)
	}
}

func TestSiteFromDisk(t *testing.T) {
	root := t.TempDir()
	files := map[string][]byte{"index.html": []byte("<p>disk</p>"), "sous-dossier/ñ.txt": []byte("ñ")}
	for p, b := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.WriteFile(full, b, 0o644)
	}
	dir, err := insert.DirFS(os.DirFS(root))
	if err != nil {
		t.Fatal(err)
	}
	st := NewStore()
	uri, err := insert.Directory(context.Background(), st, chk(), dir, insert.Config{})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := fetchPath(st, uri, "/sous-dossier/ñ.txt")
	if err != nil || string(got) != "ñ" {
		t.Errorf("fetched %q, %v", got, err)
	}
}

func TestDirectoryRefuses(t *testing.T) {
	ctx := context.Background()
	one := insert.Bytes([]byte("x"))
	for name, dir := range map[string]insert.Dir{
		"empty":             {},
		"dot-dot":           {Entries: []insert.Entry{{Path: "../x", Open: one}}},
		"empty component":   {Entries: []insert.Entry{{Path: "a//b", Open: one}}},
		"twice":             {Entries: []insert.Entry{{Path: "a", Open: one}, {Path: "a", Open: one}}},
		"file and dir":      {Entries: []insert.Entry{{Path: "a", Open: one}, {Path: "a-", Open: one}, {Path: "a/b", Open: one}}},
		"no content":        {Entries: []insert.Entry{{Path: "a"}}},
		"default not a top": {Entries: []insert.Entry{{Path: "a/b", Open: one}}, Default: "a/b"},
		"control character": {Entries: []insert.Entry{{Path: "a\x01", Open: one}}},
	} {
		st := NewStore()
		if _, err := insert.Directory(ctx, st, chk(), dir, insert.Config{}); err == nil {
			t.Errorf("%s: inserted", name)
		} else if st.Len() != 0 {
			t.Errorf("%s: refused after inserting %d blocks", name, st.Len())
		}
	}
}

// TestLargeManifest: a site whose manifest does not fit a top block, under a USK whose top
// block holds only 4 KiB.
func TestLargeManifest(t *testing.T) {
	st := NewStore()
	files := map[string][]byte{}
	var paths []string
	for i := range 3000 {
		p := "page-" + strings.Repeat("x", i%40) + string(rune('a'+i%26)) + "/" + itoa(i) + ".html"
		files[p] = []byte("<p>" + itoa(i) + "</p>")
		paths = append(paths, p)
	}
	usk := newUSK(t, "big", 0)
	uri := insertSite(t, st, usk, files)
	for _, p := range []string{paths[0], paths[1500], paths[2999]} {
		got, _, err := fetchPath(st, uri, "/"+p)
		if err != nil || !bytes.Equal(got, files[p]) {
			t.Errorf("%s: %q, %v", p, got, err)
		}
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
