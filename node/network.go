package node

import (
	"context"
	"errors"
	"fmt"

	"lethe/crypto"
	"lethe/fcp"
	"lethe/fetch"
	"lethe/insert"
	"lethe/routing"
	"lethe/session"
)

// network is the node's router as the client side sees it: a fetch.BlockGetter and an
// insert.BlockPutter. The blocks of one download or upload (one session, package session)
// walk one stem (spec §18.2); a retry (attempt > 0) walks a stem of its own.
type network struct {
	r *routing.Router
}

var (
	_ fetch.BlockGetter  = network{}
	_ insert.BlockPutter = network{}
)

// stemmed gives ctx the stem tag of its session, if it is in one.
func stemmed(ctx context.Context, attempt int) context.Context {
	if id, ok := session.ID(ctx); ok {
		ctx = routing.WithStem(ctx, id)
	}
	return routing.Restem(ctx, attempt)
}

func (n network) GetBlock(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey, attempt int) ([]byte, error) {
	b, err := n.r.GetBlock(stemmed(ctx, attempt), kt, rk)
	if err != nil && errors.Is(err, routing.ErrDataNotFound) {
		return nil, fmt.Errorf("%w: %w", fetch.ErrBlockNotFound, err)
	}
	return b, err
}

func (n network) PutBlock(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	return n.r.PutBlock(stemmed(ctx, 0), kt, rk, block)
}

// localBlocks answers from this node's store alone (FCP's DSOnly).
type localBlocks struct {
	s *blockStore
}

func (l localBlocks) GetBlock(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey, attempt int) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if b, ok := l.s.Get(kt, rk); ok {
		return b, nil
	}
	return nil, fmt.Errorf("%w: not in this node's store", fetch.ErrBlockNotFound)
}

// clientError turns what the insert and fetch libraries and the router report into the
// outcomes of package fcp, so that the server answers Freenet's clients with the codes they
// know (spec §16.6, §19.5). The original error stays in the chain for its text.
func clientError(err error) error {
	if err == nil {
		return nil
	}
	var (
		seg      *fetch.SegmentError
		redirect *fcp.RedirectError
	)
	var outcome error
	switch {
	case errors.As(err, &redirect), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, crypto.ErrInvalidURI):
		return err // the server knows these
	case errors.Is(err, errShuttingDown), errors.Is(err, routing.ErrClosed):
		outcome = fcp.ErrCancelled
	case errors.Is(err, crypto.ErrCollision):
		outcome = fcp.ErrCollision
	case errors.Is(err, fetch.ErrTooLarge):
		outcome = fcp.ErrTooBig
	case errors.Is(err, fetch.ErrNotFound), errors.Is(err, fetch.ErrIsDirectory):
		outcome = fcp.ErrNotInManifest
	case errors.Is(err, fetch.ErrCorrupt), errors.Is(err, fetch.ErrTooManyHops):
		outcome = fcp.ErrCorrupt
	case errors.As(err, &seg):
		outcome = fcp.ErrAllDataNotFound
	case errors.Is(err, routing.ErrOverloaded):
		outcome = fcp.ErrOverloaded
	case errors.Is(err, routing.ErrNoPeers), errors.Is(err, routing.ErrRouteNotFound):
		outcome = fcp.ErrRouteNotFound
	case errors.Is(err, fetch.ErrBlockNotFound), errors.Is(err, fetch.ErrEditionNotFound),
		errors.Is(err, routing.ErrDataNotFound):
		outcome = fcp.ErrDataNotFound
	default:
		return err
	}
	return fmt.Errorf("%w: %w", outcome, err)
}
