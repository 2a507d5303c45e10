package crawl

import (
	"bytes"
	"context"
	"fmt"

	"lethe/crypto"
	"lethe/fcp"
	"lethe/index"
)

// ClientStore fetches and inserts an index's files through a node's client protocol: the
// words of a search never reach the node, only requests for CHK files (spec §21.6). It is an
// index.Getter, an index.Putter and a Fetcher.
type ClientStore struct{ C *fcp.Client }

// Get fetches uri, at its newest edition if it is a USK.
func (s ClientStore) Get(ctx context.Context, uri crypto.RequestURI, maxSize int64) ([]byte, error) {
	b, _, _, err := s.fetch(ctx, uri, maxSize)
	return b, err
}

func (s ClientStore) fetch(ctx context.Context, uri crypto.RequestURI, maxSize int64) ([]byte, string, crypto.RequestURI, error) {
	var buf bytes.Buffer
	found, err := s.C.Get(ctx, fcp.GetRequest{URI: uri, MaxSize: maxSize, MaxRetries: 2}, &buf, nil)
	if err != nil {
		return nil, "", crypto.RequestURI{}, err
	}
	if int64(buf.Len()) > maxSize {
		return nil, "", crypto.RequestURI{}, fmt.Errorf("%v: %d bytes, at most %d expected", uri, buf.Len(), maxSize)
	}
	return buf.Bytes(), found.ContentType, found.URI, nil
}

// Fetch is crawl.Fetcher.
func (s ClientStore) Fetch(ctx context.Context, uri crypto.RequestURI, maxSize int64) ([]byte, string, error) {
	b, t, _, err := s.fetch(ctx, uri, maxSize)
	return b, t, err
}

// Put inserts one node; the node's keyed randomness (spec §19.5) gives the same bytes the
// same key, so an edition reuses the blocks of the nodes that did not change.
func (s ClientStore) Put(ctx context.Context, data []byte) (crypto.RequestURI, error) {
	return s.C.Put(ctx, fcp.PutRequest{URI: crypto.InsertURI{Type: crypto.CHK}, ContentType: index.MIMEType,
		Data: bytes.NewReader(data), DataLength: int64(len(data)), DontCompress: true, MaxRetries: 3}, nil)
}

// Publish inserts an edition's root.
func (s ClientStore) Publish(ctx context.Context, target crypto.InsertURI, data []byte) (crypto.RequestURI, error) {
	return s.C.Put(ctx, fcp.PutRequest{URI: target, ContentType: index.MIMEType,
		Data: bytes.NewReader(data), DataLength: int64(len(data)), DontCompress: true, MaxRetries: 3}, nil)
}
