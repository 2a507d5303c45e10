// Package session ties together the block requests of one download or one upload. Packages
// fetch and insert mark the context of each operation with a session; the node below gives all
// the blocks of a session one stem tag, so that they walk the same stem through the network
// (docs/spec.md §18.2): a node on that stem then sees all of a download or none of it, whether
// it comes from the downloader or a relay, and cannot tell the two apart by its volume.
package session

import (
	"context"
	"crypto/rand"
	"encoding/binary"
)

type key struct{}

// Start returns ctx marked with a new session, or ctx itself if it is already in one: an
// operation inside another (a site's files inside the site's insert) belongs to the outer one.
func Start(ctx context.Context) context.Context {
	if _, ok := ID(ctx); ok {
		return ctx
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("session: crypto/rand: " + err.Error())
	}
	id := binary.BigEndian.Uint64(b[:]) | 1 // never zero
	return context.WithValue(ctx, key{}, id)
}

// ID returns the session ctx belongs to, if any.
func ID(ctx context.Context) (uint64, bool) {
	id, ok := ctx.Value(key{}).(uint64)
	return id, ok
}
