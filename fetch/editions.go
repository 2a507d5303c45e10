package fetch

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"lethe/crypto"
	"lethe/session"
)

// Editions remembers the newest edition found of each USK site, so that the next search
// starts there (spec §14.2). It is safe for concurrent use; the zero value is empty.
type Editions struct {
	mu     sync.Mutex
	latest map[string]int64 // site URI at edition 0, without path → newest edition found; guarded by mu
}

func editionKey(u crypto.RequestURI) string { return u.WithEdition(0).WithPath("").String() }

// Latest returns the newest edition remembered for u's site.
func (e *Editions) Latest(u crypto.RequestURI) (int64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, ok := e.latest[editionKey(u)]
	return n, ok
}

// Record remembers that edition n of u's site exists.
func (e *Editions) Record(u crypto.RequestURI, n int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.latest == nil {
		e.latest = map[string]int64{}
	}
	k := editionKey(u)
	if old, ok := e.latest[k]; !ok || n > old {
		e.latest[k] = n
	}
}

// LatestEdition finds the newest edition of a USK site that can be fetched, starting from
// u's edition or the newest remembered, whichever is later (spec §14.2). It probes the next
// editions in parallel, a window at a time, and moves on from the newest one found until a
// whole window finds none, so a few editions that failed to insert do not hide later ones.
// It returns u at that edition, with u's path.
func (f *Fetcher) LatestEdition(ctx context.Context, u crypto.RequestURI) (crypto.RequestURI, error) {
	ctx = session.Start(ctx) // its blocks travel as one session (package session)
	if u.Type != crypto.USK {
		return crypto.RequestURI{}, fmt.Errorf("fetch: %v is not a USK", u.Type)
	}
	found := int64(-1)
	from := u.Edition
	if n, ok := f.cfg.Editions.Latest(u); ok && n > from {
		found, from = n, n+1
	}
	for from <= crypto.MaxEdition {
		newest, err := f.probe(ctx, u, from, min(from+editionWindow, crypto.MaxEdition+1))
		if err != nil {
			return crypto.RequestURI{}, err
		}
		if newest < 0 {
			break
		}
		found, from = newest, newest+1
		f.cfg.Editions.Record(u, found)
	}
	if found < 0 {
		return crypto.RequestURI{}, fmt.Errorf("%w: %v from edition %d", ErrEditionNotFound, u.WithPath(""), u.Edition)
	}
	return u.WithEdition(found), nil
}

// probe asks for editions [from, to) at once and returns the newest that exists, or -1.
func (f *Fetcher) probe(ctx context.Context, u crypto.RequestURI, from, to int64) (int64, error) {
	type answer struct {
		edition int64
		err     error
	}
	answers := make(chan answer, to-from)
	for n := from; n < to; n++ {
		go func() {
			key, err := u.WithEdition(n).SSKKey()
			if err == nil {
				// One try per edition: an edition not found is the usual answer.
				_, err = f.sskPayload(ctx, key, 0)
			}
			answers <- answer{n, err}
		}()
	}
	newest := int64(-1)
	var failure error
	for range to - from {
		a := <-answers
		switch {
		case a.err == nil:
			newest = max(newest, a.edition)
		case ctx.Err() != nil:
			failure = ctx.Err()
		case !errors.Is(a.err, ErrBlockNotFound) && !errors.Is(a.err, crypto.ErrVerify):
			f.cfg.Logger.Debug("fetch: edition probe failed", "edition", a.edition, "err", a.err)
		}
	}
	return newest, failure
}
