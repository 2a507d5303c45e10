package filetest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"lethe/crypto"
	"lethe/fetch"
)

func newUSK(tb testing.TB, site string, edition int64) crypto.InsertURI {
	tb.Helper()
	u, err := crypto.GenerateSSKURI(newChaCha(byte(len(site))))
	if err != nil {
		tb.Fatal(err)
	}
	u.Type, u.Site, u.Edition = crypto.USK, site, edition
	return u
}

func TestUSKEditions(t *testing.T) {
	ctx := context.Background()
	st := NewStore()
	usk := newUSK(t, "blog", 0)
	for n := range int64(4) {
		uri := insertSite(t, st, usk.WithEdition(n), map[string][]byte{"index.html": []byte("edition " + itoa(int(n)))})
		if uri.Edition != n {
			t.Fatalf("edition %d inserted as %d", n, uri.Edition)
		}
	}
	req, _ := usk.RequestURI()
	editions := &fetch.Editions{}
	f := fetch.New(st, fetch.Config{Editions: editions})
	latest, err := f.LatestEdition(ctx, req.WithPath("/index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if latest.Edition != 3 || latest.Path != "/index.html" {
		t.Fatalf("latest edition %d path %q, want 3 and /index.html", latest.Edition, latest.Path)
	}
	got, _, err := fetchBytes(st, latest, fetch.Config{})
	if err != nil || string(got) != "edition 3" {
		t.Fatalf("newest edition holds %q, %v", got, err)
	}

	// Editions 4 and 5 fail to insert; 6 makes it. The search looks past the gap, and starts
	// from what it remembers: editions 0–3 are not asked for again.
	insertSite(t, st, usk.WithEdition(6), map[string][]byte{"index.html": []byte("edition 6")})
	old := map[crypto.RoutingKey]bool{}
	for n := range int64(4) {
		k, _ := req.WithEdition(n).RoutingKey()
		old[k] = true
	}
	var asked atomic.Int64
	st.OnGet = func(ctx context.Context, rk crypto.RoutingKey, attempt int) error {
		if old[rk] {
			asked.Add(1)
		}
		return nil
	}
	latest, err = f.LatestEdition(ctx, req)
	st.OnGet = nil
	if err != nil || latest.Edition != 6 {
		t.Fatalf("after a gap: edition %d, %v; want 6", latest.Edition, err)
	}
	if n := asked.Load(); n != 0 {
		t.Errorf("remembered editions 0–3 asked for again %d times", n)
	}
	if n, _ := editions.Latest(req); n != 6 {
		t.Errorf("remembered edition %d, want 6", n)
	}

	// Inserting other content at a taken edition moves on to the next free one.
	uri := insertSite(t, st, usk.WithEdition(6), map[string][]byte{"index.html": []byte("edition 7")})
	if uri.Edition != 7 {
		t.Errorf("insert at taken edition 6 went to %d, want 7", uri.Edition)
	}
	// The same content again is no collision: the block is identical.
	again := insertSite(t, st, usk.WithEdition(7), map[string][]byte{"index.html": []byte("edition 7")})
	if again.Edition != 7 {
		t.Errorf("re-insert of edition 7 went to %d", again.Edition)
	}

	other, _ := newUSK(t, "nothing-here", 0).RequestURI()
	if _, err := f.LatestEdition(ctx, other); !errors.Is(err, fetch.ErrEditionNotFound) {
		t.Errorf("site with no editions: %v, want ErrEditionNotFound", err)
	}
}
