package fetch

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"lethe/crypto"
	"lethe/metadata"
	"lethe/session"
)

// Resolve follows uri to the document its path names (spec §12.6): it fetches the top
// block, expands nested metadata, follows redirects (carrying the rest of the path along),
// looks each path component up in the manifests on the way, and at the end of the path
// takes a manifest's default entry. It returns a file's document (Inline or Splitfile), or a
// Manifest for a directory without a default, which the caller can list.
func (f *Fetcher) Resolve(ctx context.Context, uri crypto.RequestURI) (*metadata.Document, error) {
	doc, _, err := f.ResolveDir(ctx, uri)
	return doc, err
}

// ResolveDir is Resolve that also reports whether uri's path ends at a directory (a
// manifest): the document is then that directory's default file, or the directory itself
// if it has none. A browser resolves a page's relative references against its path up to the
// last slash, so the proxy serves a directory's default file only under a path that ends in
// one, and redirects the path without it.
func (f *Fetcher) ResolveDir(ctx context.Context, uri crypto.RequestURI) (doc *metadata.Document, dir bool, err error) {
	ctx = session.Start(ctx) // its blocks travel as one session (package session)
	rest := uri.Components()
	doc, err = f.document(ctx, uri.WithPath(""))
	if err != nil {
		return nil, false, err
	}
	hops := 0
	var walked []string
	for {
		switch {
		case doc.Kind == metadata.KindRedirect || doc.Kind == metadata.KindSplitfile && doc.Metadata:
			if hops++; hops > MaxHops {
				return nil, false, fmt.Errorf("%w: more than %d for %v", ErrTooManyHops, MaxHops, uri)
			}
			if doc.Kind == metadata.KindRedirect {
				t := doc.Target
				rest = append(t.Components(), rest...)
				doc, err = f.document(ctx, t.WithPath(""))
			} else {
				doc, err = f.nested(ctx, doc)
			}
			if err != nil {
				return nil, false, err
			}
		case doc.Kind == metadata.KindManifest:
			name := doc.Default
			if len(rest) > 0 {
				name, rest = rest[0], rest[1:]
			} else {
				dir = true // the path ends here, at a directory
				if name == "" {
					return doc, true, nil
				}
			}
			walked = append(walked, name)
			if doc = doc.Lookup(name); doc == nil {
				return nil, false, fmt.Errorf("%w: /%s", ErrNotFound, strings.Join(walked, "/"))
			}
		default:
			if len(rest) == 1 && len(walked) == 0 {
				// CHK@…/photo.jpg: the URI names a file, through no manifest, and the one name
				// after the key is that file's name, as insert gives it (spec §12.6).
				return doc, false, nil
			}
			if len(rest) > 0 {
				return nil, false, fmt.Errorf("%w: /%s is a file, not a directory", ErrNotFound, strings.Join(walked, "/"))
			}
			return doc, dir, nil
		}
	}
}

// document fetches the top block a URI (without path) names and decodes it.
func (f *Fetcher) document(ctx context.Context, u crypto.RequestURI) (*metadata.Document, error) {
	payload, err := f.topPayload(ctx, u)
	if err != nil {
		return nil, err
	}
	doc, err := metadata.Decode(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: top block of %v: %w", ErrCorrupt, u, err)
	}
	return doc, nil
}

// nested fetches the document a Metadata splitfile holds.
func (f *Fetcher) nested(ctx context.Context, doc *metadata.Document) (*metadata.Document, error) {
	if doc.Split.Length > metadata.MaxDocument {
		return nil, fmt.Errorf("%w: nested metadata of %d bytes, at most %d", ErrTooLarge, doc.Split.Length, metadata.MaxDocument)
	}
	var buf bytes.Buffer
	buf.Grow(int(doc.Split.Length))
	if err := f.fetchSplit(ctx, doc.Split, &buf); err != nil {
		return nil, err
	}
	inner, err := metadata.Decode(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%w: nested metadata: %w", ErrCorrupt, err)
	}
	return inner, nil
}
