package insert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"lethe/crypto"
	"lethe/metadata"
	"lethe/session"
)

// Packing of a site's files into its manifest (spec §12.5). A small file inside the manifest
// costs no request of its own; the manifest must be fetched whole before any page shows, so
// the total packed is bounded.
const (
	PackLimit   = 4 << 10   // bytes of stored stream a file may have to be packed
	PackTotal   = 512 << 10 // bytes packed into one site's manifest at most
	EmbedLimit  = 4 << 10   // bytes of a splitfile document kept in the manifest itself
	DefaultName = "index.html"
)

// Entry is one file of a directory to insert: content to insert, or a redirect to a URI
// that already exists.
type Entry struct {
	Path     string                        // inside the directory, '/'-separated: "img/cat.png"
	MIMEType string                        // optional: chosen from the name or content if empty
	Open     func() (io.ReadCloser, error) // the content; nil for a redirect
	Redirect crypto.RequestURI             // where the content already is, when Open is nil
}

// Dir is a directory to insert as a site.
type Dir struct {
	Entries []Entry
	// Default is the entry a URI ending at the site's top means. If empty, "index.html" is
	// the default of the top and of every subdirectory that has one.
	Default string
}

// DirFS lists the regular files under fsys (os.DirFS of a directory, typically) as a Dir.
// Files and directories whose names cannot be URI path components are refused, so that
// nothing is silently left out.
func DirFS(fsys fs.FS) (Dir, error) {
	var dir Dir
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		if err := metadata.CheckName(d.Name()); err != nil {
			return fmt.Errorf("insert: %q: %w", p, err)
		}
		if !d.Type().IsRegular() {
			return nil // directories are walked; links and devices are not content
		}
		dir.Entries = append(dir.Entries, Entry{Path: p, Open: func() (io.ReadCloser, error) { return fsys.Open(p) }})
		return nil
	})
	if err != nil {
		return Dir{}, err
	}
	return dir, nil
}

// tree is a directory being assembled into a manifest.
type tree struct {
	dirs  map[string]*tree
	files map[string]*metadata.Document
}

// Directory inserts a directory as a site: every file, then one manifest that maps the
// names to them, under target (CHK@, or a USK to publish an edition of a site).
func Directory(ctx context.Context, p BlockPutter, target crypto.InsertURI, dir Dir, cfg Config) (crypto.RequestURI, error) {
	ctx = session.Start(ctx) // its blocks travel as one session (package session)
	if err := checkTarget(target); err != nil {
		return crypto.RequestURI{}, err
	}
	in := newInserter(p, cfg)
	entries := slices.Clone(dir.Entries)
	slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
	if err := checkPaths(entries); err != nil {
		return crypto.RequestURI{}, err
	}
	if dir.Default != "" && (strings.Contains(dir.Default, "/") || !slices.ContainsFunc(entries, func(e Entry) bool { return e.Path == dir.Default })) {
		return crypto.RequestURI{}, fmt.Errorf("insert: default %q is not a file at the top of the directory", dir.Default)
	}

	root := &tree{}
	packed := 0
	for _, e := range entries {
		doc, err := in.entry(ctx, e, &packed)
		if err != nil {
			return crypto.RequestURI{}, fmt.Errorf("insert %q: %w", e.Path, err)
		}
		t, parts := root, strings.Split(e.Path, "/")
		for _, name := range parts[:len(parts)-1] {
			if t.dirs == nil {
				t.dirs = map[string]*tree{}
			}
			if t.dirs[name] == nil {
				t.dirs[name] = &tree{}
			}
			t = t.dirs[name]
		}
		if t.files == nil {
			t.files = map[string]*metadata.Document{}
		}
		t.files[parts[len(parts)-1]] = doc
	}
	manifest := root.manifest(dir.Default)
	uri, err := in.storeTop(ctx, target, manifest)
	if err == nil {
		in.report(func(p *Progress) { p.Done = true })
	}
	return uri, err
}

// checkPaths refuses paths that are not URI paths and names that are both a file and a
// directory. entries are sorted.
func checkPaths(entries []Entry) error {
	if len(entries) == 0 {
		return errors.New("insert: empty directory")
	}
	files, dirs := map[string]bool{}, map[string]bool{}
	for _, e := range entries {
		parts := strings.Split(e.Path, "/")
		for i, name := range parts {
			if err := metadata.CheckName(name); err != nil {
				return fmt.Errorf("insert: path %q: %w", e.Path, err)
			}
			if i < len(parts)-1 {
				dirs[strings.Join(parts[:i+1], "/")] = true
			}
		}
		if files[e.Path] {
			return fmt.Errorf("insert: %q is given twice", e.Path)
		}
		files[e.Path] = true
		if e.Open == nil && e.Redirect.Type == 0 {
			return fmt.Errorf("insert: %q has neither content nor a redirect", e.Path)
		}
	}
	for p := range files {
		if dirs[p] {
			return fmt.Errorf("insert: %q is both a file and a directory", p)
		}
	}
	return nil
}

// entry inserts one file and returns the document its manifest entry holds: the file itself
// if small, its splitfile document if that is small, else a redirect to its own top block.
func (in *inserter) entry(ctx context.Context, e Entry, packed *int) (*metadata.Document, error) {
	name := path.Base(e.Path)
	if e.Open == nil {
		mimeType := e.MIMEType
		if mimeType == "" {
			mimeType = metadata.MIMEType(name, nil)
		}
		return &metadata.Document{Kind: metadata.KindRedirect, MIMEType: mimeType, Target: e.Redirect}, nil
	}
	r, err := e.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	w, err := in.newWriter(ctx, crypto.InsertURI{Type: crypto.CHK}, false, name, e.MIMEType)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Abort()
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	doc := w.result
	switch doc.Kind {
	case metadata.KindInline:
		if n := len(doc.Data); n <= PackLimit && *packed+n <= PackTotal {
			*packed += n
			return doc, nil
		}
	case metadata.KindSplitfile:
		if b, err := doc.Encode(); err == nil && len(b) <= EmbedLimit {
			return doc, nil
		}
	}
	uri, err := in.storeTop(ctx, crypto.InsertURI{Type: crypto.CHK}, doc)
	if err != nil {
		return nil, err
	}
	return &metadata.Document{Kind: metadata.KindRedirect, MIMEType: doc.MIMEType, Target: uri}, nil
}

// manifest builds the manifest of t, with defaultName (or index.html) as its default.
func (t *tree) manifest(defaultName string) *metadata.Document {
	d := &metadata.Document{Kind: metadata.KindManifest}
	for name, sub := range t.dirs {
		d.Entries = append(d.Entries, metadata.Entry{Name: name, Doc: sub.manifest("")})
	}
	for name, doc := range t.files {
		d.Entries = append(d.Entries, metadata.Entry{Name: name, Doc: doc})
	}
	slices.SortFunc(d.Entries, func(a, b metadata.Entry) int { return strings.Compare(a.Name, b.Name) })
	if defaultName == "" && t.files[DefaultName] != nil {
		defaultName = DefaultName
	}
	d.Default = defaultName
	return d
}

// Bytes is a convenience for entries given as bytes in memory.
func Bytes(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}
