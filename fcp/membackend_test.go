package fcp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
	"sync"

	"lethe/crypto"
)

// memBackend is a unit-test double of the node: a map from request URI to content, with
// sites as maps from path to content or redirect. It computes well-formed Lethe URIs (CHKs
// from the content's hash, SSK/USK/KSK from the insert URI) so that everything the server
// sends parses, but it touches no network and no disk.
type memBackend struct {
	mu    sync.Mutex
	files map[string]memFile            // request URI without path → content
	sites map[string]map[string]memFile // request URI of a site → path → content
	puts  int

	// hold, if not nil, makes Put, PutDir and Get wait until it is closed or ctx ends.
	hold chan struct{}
	// started receives the URI of each request as it begins, if not nil.
	started chan string
}

type memFile struct {
	data        []byte
	contentType string
	name        string            // CHK TargetFilename
	redirect    crypto.RequestURI // a site entry that points elsewhere
}

func newMemBackend() *memBackend {
	return &memBackend{files: map[string]memFile{}, sites: map[string]map[string]memFile{}}
}

func (b *memBackend) wait(ctx context.Context, uri string) error {
	if b.started != nil {
		select {
		case b.started <- uri:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if b.hold == nil {
		return nil
	}
	select {
	case <-b.hold:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// chkURI names content the way a convergent CHK insert would: same bytes, same key. The keys
// are hashes of the content, not real block keys; they only need to be well-formed URIs.
func chkURI(data []byte) crypto.RequestURI {
	key := sha256.Sum256(data)
	return crypto.RequestURI{Type: crypto.CHK, Key: key, Crypto: sha256.Sum256(key[:])}
}

func (b *memBackend) Put(ctx context.Context, req PutRequest, progress func(Progress)) (crypto.RequestURI, error) {
	data, err := io.ReadAll(io.LimitReader(req.Data, req.DataLength+1))
	if err != nil {
		return crypto.RequestURI{}, fmt.Errorf("read data: %w", err)
	}
	if int64(len(data)) != req.DataLength {
		return crypto.RequestURI{}, fmt.Errorf("got %d bytes, DataLength %d", len(data), req.DataLength)
	}
	progress(Progress{Total: 1, Required: 1})
	content := data
	if req.RedirectTo.Type != 0 {
		content = []byte("redirect to " + req.RedirectTo.String())
	}
	uri, err := b.name(ctx, req.URI, content, progress)
	if err != nil || req.GetCHKOnly {
		return uri, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	key := uri.WithPath("").String()
	if old, ok := b.files[key]; ok && uri.Type != crypto.CHK && !bytes.Equal(old.data, data) {
		return crypto.RequestURI{}, fmt.Errorf("insert %s: %w", key, ErrCollision)
	}
	b.files[key] = memFile{data: data, contentType: req.ContentType, name: req.TargetFilename, redirect: req.RedirectTo}
	b.puts++
	progress(Progress{Total: 1, Required: 1, Succeeded: 1, FinalizedTotal: true})
	return uri, nil
}

// name works out the request URI of an insert, reports it, and waits if the test says so.
func (b *memBackend) name(ctx context.Context, insert crypto.InsertURI, content []byte, progress func(Progress)) (crypto.RequestURI, error) {
	uri := chkURI(content)
	if insert.Type != crypto.CHK {
		var err error
		if uri, err = insert.RequestURI(); err != nil {
			return crypto.RequestURI{}, err
		}
	}
	progress(Progress{URI: uri})
	return uri, b.wait(ctx, uri.String())
}

func (b *memBackend) PutDir(ctx context.Context, req PutDirRequest, progress func(Progress)) (crypto.RequestURI, error) {
	site := map[string]memFile{}
	var all []byte
	for _, e := range req.Entries {
		f := memFile{contentType: e.ContentType, redirect: e.TargetURI}
		if !e.IsRedirect() {
			data, err := io.ReadAll(e.Data)
			if err != nil {
				return crypto.RequestURI{}, err
			}
			f = memFile{data: data, contentType: e.ContentType}
		}
		site[e.Name] = f
		all = append(all, e.Name...)
		all = append(all, f.data...)
		all = append(all, f.redirect.String()...)
	}
	if req.DefaultName != "" {
		if f, ok := site[req.DefaultName]; ok {
			site[""] = f
		}
	}
	uri, err := b.name(ctx, req.URI, all, progress)
	if err != nil || req.GetCHKOnly {
		return uri, err
	}
	b.mu.Lock()
	b.sites[uri.WithPath("").String()] = site
	b.puts++
	b.mu.Unlock()
	return uri, nil
}

func (b *memBackend) Get(ctx context.Context, req GetRequest, progress func(Progress)) (Found, io.ReadCloser, error) {
	if err := b.wait(ctx, req.URI.String()); err != nil {
		return Found{}, nil, err
	}
	for range 4 {
		f, err := b.lookup(req.URI)
		if err != nil {
			return Found{}, nil, err
		}
		if f.redirect.Type != 0 {
			req.URI = f.redirect
			continue
		}
		found := Found{ContentType: f.contentType, DataLength: int64(len(f.data))}
		progress(Progress{ContentType: f.contentType, DataLength: found.DataLength})
		progress(Progress{Total: 1, Required: 1, Succeeded: 1, FinalizedTotal: true})
		if found.DataLength > req.MaxSize {
			return found, nil, fmt.Errorf("%w: %d bytes", ErrTooBig, found.DataLength)
		}
		return found, io.NopCloser(bytes.NewReader(f.data)), nil
	}
	return Found{}, nil, fmt.Errorf("too many redirects: %w", ErrCorrupt)
}

func (b *memBackend) lookup(u crypto.RequestURI) (memFile, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if u.Type == crypto.USK {
		// A newer edition moves the request on, as a USK fetch does.
		for n := u.Edition + 16; n > u.Edition; n-- {
			if _, ok := b.sites[u.WithPath("").WithEdition(n).String()]; ok {
				return memFile{}, &RedirectError{URI: u.WithEdition(n)}
			}
		}
	}
	key := u.WithPath("").String()
	path := strings.Trim(u.Path, "/")
	if site, ok := b.sites[key]; ok {
		if f, ok := site[path]; ok {
			return f, nil
		}
		return memFile{}, fmt.Errorf("%q in %s: %w", path, key, ErrNotInManifest)
	}
	f, ok := b.files[key]
	if !ok {
		return memFile{}, fmt.Errorf("%s: %w", key, ErrDataNotFound)
	}
	if path != "" && path != f.name {
		return memFile{}, fmt.Errorf("%q in %s: %w", path, key, ErrNotInManifest)
	}
	return f, nil
}

// LatestEdition finds the newest site inserted at u's edition or up to 64 past it.
func (b *memBackend) LatestEdition(ctx context.Context, u crypto.RequestURI, poll bool) (crypto.RequestURI, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for n := u.Edition + 64; n >= u.Edition; n-- {
		if _, ok := b.sites[u.WithPath("").WithEdition(n).String()]; ok {
			return u.WithEdition(n), nil
		}
	}
	return crypto.RequestURI{}, fmt.Errorf("%v: %w", u, ErrDataNotFound)
}
