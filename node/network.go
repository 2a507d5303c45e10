package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"lethe/crypto"
	"lethe/fcp"
	"lethe/fetch"
	"lethe/insert"
	"lethe/routing"
)

// network is the node's router as the client side sees it: a fetch.BlockGetter and an
// insert.BlockPutter. Every GetBlock of the router already takes a fresh random stem, so a
// retry (attempt > 0) takes a new route without being told.
type network struct {
	r *routing.Router
}

var (
	_ fetch.BlockGetter  = network{}
	_ insert.BlockPutter = network{}
)

func (n network) GetBlock(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey, attempt int) ([]byte, error) {
	b, err := n.r.GetBlock(ctx, kt, rk)
	if err != nil && errors.Is(err, routing.ErrDataNotFound) {
		return nil, fmt.Errorf("%w: %w", fetch.ErrBlockNotFound, err)
	}
	return b, err
}

func (n network) PutBlock(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	if kt == crypto.SSK {
		// An SSK slot is written once (spec §4.3), and a USK update relies on hearing that
		// its edition is taken. Router.PutBlock reports a collision only when this node
		// holds the other block itself: a collision a peer reports comes back as success
		// (its result carries no error), and the insert goes on to store the second block
		// on other nodes. Until the router reports those, the node looks for the slot
		// first: a different block there is the collision, and nothing is inserted.
		got, err := n.GetBlock(ctx, kt, rk, 0)
		switch {
		case err == nil && !bytes.Equal(got, block):
			return fmt.Errorf("insert: %w", crypto.ErrCollision)
		case err != nil && ctx.Err() != nil:
			return err
		}
	}
	return n.r.PutBlock(ctx, kt, rk, block)
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
