package fcp

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"

	"lethe/crypto"
	"lethe/session"
)

// sessionBackend records the session each Get runs in.
type sessionBackend struct {
	*memBackend
	mu  sync.Mutex
	ids []uint64 // 0: none
}

func (b *sessionBackend) Get(ctx context.Context, req GetRequest, progress func(Progress)) (Found, io.ReadCloser, error) {
	id, _ := session.ID(ctx)
	b.mu.Lock()
	b.ids = append(b.ids, id)
	b.mu.Unlock()
	return b.memBackend.Get(ctx, req, progress)
}

func (b *sessionBackend) last() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ids[len(b.ids)-1]
}

// TestSessions: the requests a client makes within one session of package session reach
// the Backend in one session of the node's own, a session per connection and name (spec
// §16.5); requests outside any run in none, for the Backend to start one each.
func TestSessions(t *testing.T) {
	b := &sessionBackend{memBackend: newMemBackend()}
	_, addr := startServer(t, Config{Backend: b})
	c1, c2 := dialClient(t, addr), dialClient(t, addr)
	ctx := context.Background()
	var uris []crypto.RequestURI
	for _, data := range []string{"one", "two"} {
		u, err := c1.Put(ctx, PutRequest{URI: crypto.InsertURI{Type: crypto.CHK}, Data: bytes.NewReader([]byte(data)), DataLength: int64(len(data))}, nil)
		if err != nil {
			t.Fatal(err)
		}
		uris = append(uris, u)
	}
	get := func(ctx context.Context, c *Client, u crypto.RequestURI) uint64 {
		t.Helper()
		if _, err := c.Get(ctx, GetRequest{URI: u}, io.Discard, nil); err != nil {
			t.Fatal(err)
		}
		return b.last()
	}
	search, other := session.Start(ctx), session.Start(ctx)
	first := get(search, c1, uris[0])
	if first == 0 {
		t.Fatal("a request in a session reached the backend in none")
	}
	if clientID, _ := session.ID(search); first == clientID {
		t.Error("the node runs the session under the client's own number")
	}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		c    *Client
		same bool
	}{
		{"same session, another file", search, c1, true},
		{"another session", other, c1, false},
		{"same session, another connection", search, c2, false},
	} {
		if got := get(tc.ctx, tc.c, uris[1]); (got == first) != tc.same || got == 0 {
			t.Errorf("%s: session %x, the first request's %x", tc.name, got, first)
		}
	}
	if got := get(ctx, c1, uris[0]); got != 0 {
		t.Errorf("a request outside any session reached the backend in session %x", got)
	}
}
