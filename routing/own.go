package routing

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"lethe/wire"
	"time"

	"lethe/crypto"
)

// The node's own requests and inserts (spec §18.2, §18.5). Each is a walk started as a relay
// starts one that reached it at HTL 18; the user's patience lives here, between walks.

// ownRetryPause is the first pause before the node's user asks again after its request or
// insert ended overloaded (ownRounds, spec §18.5).
const ownRetryPause = time.Second

// ownRounds runs the node's own request or insert for key kt, rk: each round is a walk under a
// fresh ID and the stem tag of ctx (WithStem, or else one of its own for all the rounds),
// which round starts and runs to its end. A round that ended overloaded is followed by
// another after a pause (retryPause: about 1, 2, 4, then 8 s), as long as a round can start
// within the request timeout of the first and within ctx's deadline: the user asking again,
// which a relay on the stem sees as it sees any node before it ask again. A route that was not
// found is not looked for again.
//
// Each round runs on a goroutine of its own with the budget a relay would give it, not ctx's
// deadline: the timeouts it sends are those of any message at HTL 18, and if ctx ends first,
// ownRounds returns ctx's error while the round goes on to its end, as a relay's would, and
// then releases what its outcome holds.
func (r *Router) ownRounds(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey, round func(ctx context.Context, id, tag uint64) outcome) (outcome, error) {
	var tag uint64
	until := time.Now().Add(r.cfg.RequestTimeout)
	if deadline, ok := ctx.Deadline(); ok && deadline.Before(until) {
		until = deadline
	}
	for n := 0; ; n++ {
		id := r.newID()
		if tag == 0 {
			tag = stemFrom(ctx, id)
		}
		done := make(chan outcome, 1)
		abandoned := make(chan struct{})
		started := r.spawn(func() {
			r.trace(Event{Kind: EventOriginate, ID: id, Key: rk})
			wctx, cancel := context.WithTimeout(r.ctx, r.budget(wire.MaxHTL, r.cfg.RequestTimeout))
			defer cancel()
			o := round(wctx, id, tag)
			r.completed.Add(1)
			select {
			case done <- o:
			case <-abandoned:
				o.finish()
			}
		})
		if !started {
			return outcome{}, ErrClosed
		}
		var o outcome
		select {
		case o = <-done:
		case <-ctx.Done():
			close(abandoned)
			return outcome{}, ctx.Err()
		}
		if o.err == nil || !errors.Is(o.err, ErrOverloaded) {
			return o, o.err
		}
		pause := r.retryPause(n)
		if time.Now().Add(pause).After(until) {
			return o, o.err
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return o, o.err
		}
	}
}

// drawRetryPause draws the pause before the round-th retry of the node's own request
// (ownRounds): ownRetryPause doubled each round up to 8 s, the longest backoff (by then the
// peers that refused have rested), times a random factor in [0.5, 1.5), so that the moment a
// stem peer sees the request again does not tell it whether this node or one before it
// decided to ask again.
func (r *Router) drawRetryPause(round int) time.Duration {
	f := 0.5 + r.randFloat64()
	return time.Duration(f * float64(ownRetryPause<<min(round, 3)))
}

type stemKey struct{}

// WithStem returns a context under which GetBlock and PutBlock send their requests and inserts
// with the stem tag tag, so that they all walk the same stem (spec §18.2). A download or upload
// uses one tag for all its blocks: a node on its stem then sees all of it or none, whether
// from its originator or a relay, and cannot tell the two apart by how much it sees. Zero, or
// no tag, gives each request a stem of its own.
func WithStem(ctx context.Context, tag uint64) context.Context {
	return context.WithValue(ctx, stemKey{}, tag)
}

// stemFrom is the stem tag for a request or insert of this node's user: the one set with
// WithStem, or else one of its own.
func stemFrom(ctx context.Context, id uint64) uint64 {
	if tag, ok := ctx.Value(stemKey{}).(uint64); ok && tag != 0 {
		return tag
	}
	return id
}

// Restem returns the context for the attempt-th try of a block, attempt 0 being the first: a
// retry after a failure walks a stem of its own, derived from the download's tag (if ctx has
// one; see WithStem), since the failed attempt's stem may be what failed.
func Restem(ctx context.Context, attempt int) context.Context {
	tag, ok := ctx.Value(stemKey{}).(uint64)
	if attempt <= 0 || !ok || tag == 0 {
		return ctx
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], tag)
	binary.BigEndian.PutUint64(b[8:], uint64(attempt))
	sum := sha256.Sum256(b[:])
	return WithStem(ctx, binary.BigEndian.Uint64(sum[:8])|1)
}
