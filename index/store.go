package index

import (
	"bytes"
	"context"
	"fmt"

	"lethe/crypto"
	"lethe/fetch"
	"lethe/insert"
)

// Getter fetches the file a URI names, through the normal request path (spec §21.5): the
// proxy fills it with its fetcher, the command line with the node's client protocol.
type Getter interface {
	Get(ctx context.Context, uri crypto.RequestURI, maxSize int64) ([]byte, error)
}

// Putter inserts a file and returns its URI. Put stores one node: a file of at most MaxNode
// bytes, uncompressed, under a CHK; Publish stores a root at a USK edition (moving to a
// later edition if that one is taken) and returns the edition's request URI.
//
// An index inserted through a Putter whose keys repeat for the same bytes (the node's keyed
// randomness, spec §19.5, or convergent keys) reuses the blocks of unchanged nodes; with
// fresh random keys every edition is new blocks.
type Putter interface {
	Put(ctx context.Context, data []byte) (crypto.RequestURI, error)
	Publish(ctx context.Context, target crypto.InsertURI, data []byte) (crypto.RequestURI, error)
}

// FetchGetter is a Getter over a Fetcher.
type FetchGetter struct{ F *fetch.Fetcher }

// Get fetches uri to memory, refusing content larger than maxSize.
func (g FetchGetter) Get(ctx context.Context, uri crypto.RequestURI, maxSize int64) ([]byte, error) {
	r, err := g.F.Open(ctx, uri)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if r.Size() > maxSize {
		return nil, fmt.Errorf("index: %v holds %d bytes, at most %d expected", uri, r.Size(), maxSize)
	}
	var buf bytes.Buffer
	buf.Grow(int(r.Size()))
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// InsertPutter is a Putter over a BlockPutter. Nodes are inserted under convergent keys
// (spec §21.6 says what that shows), so that an edition reuses the blocks of every node
// that did not change.
type InsertPutter struct{ P insert.BlockPutter }

// Put inserts one node as a file of one block.
func (p InsertPutter) Put(ctx context.Context, data []byte) (crypto.RequestURI, error) {
	return insert.File(ctx, p.P, crypto.InsertURI{Type: crypto.CHK}, bytes.NewReader(data),
		insert.Config{MIMEType: MIMEType, Compression: insert.CompressNever, Convergent: true})
}

// Publish inserts a root at target.
func (p InsertPutter) Publish(ctx context.Context, target crypto.InsertURI, data []byte) (crypto.RequestURI, error) {
	return insert.File(ctx, p.P, target, bytes.NewReader(data),
		insert.Config{MIMEType: MIMEType, Compression: insert.CompressNever})
}
