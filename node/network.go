package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

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
	// arrivals, on a darknet node, ends the router's wait for a path-folding offer once the
	// block is in (see arrivals). Nil on opennet.
	arrivals *arrivals
}

var (
	_ fetch.BlockGetter  = network{}
	_ insert.BlockPutter = network{}
)

func (n network) GetBlock(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey, attempt int) ([]byte, error) {
	if n.arrivals != nil {
		var done func()
		ctx, done = n.arrivals.expect(ctx, rk)
		defer done()
	}
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

// errArrived ends a block request's context once its block has been verified.
var errArrived = errors.New("block arrived")

// arrivals works around a wait in the router: after its own request's block has arrived,
// Router.GetBlock waits up to two seconds for the path-folding noderef that opennet nodes
// send after the data. Darknet nodes never send one, so on a darknet node every block the
// user fetches would cost two seconds. The router verifies each block it receives through
// Config.VerifyBlock; the node hooks that, and when a block the user is waiting for verifies,
// it ends that request's context, which ends the wait and nothing else (the router returns
// the block it holds).
type arrivals struct {
	mu      sync.Mutex
	waiting map[crypto.RoutingKey][]*arrival // guarded by mu
}

type arrival struct{ cancel context.CancelCauseFunc }

func newArrivals() *arrivals {
	return &arrivals{waiting: make(map[crypto.RoutingKey][]*arrival)}
}

// expect registers a request for rk; done unregisters it.
func (a *arrivals) expect(ctx context.Context, rk crypto.RoutingKey) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	w := &arrival{cancel}
	a.mu.Lock()
	a.waiting[rk] = append(a.waiting[rk], w)
	a.mu.Unlock()
	return ctx, func() {
		a.mu.Lock()
		list := slices.DeleteFunc(a.waiting[rk], func(x *arrival) bool { return x == w })
		if len(list) == 0 {
			delete(a.waiting, rk)
		} else {
			a.waiting[rk] = list
		}
		a.mu.Unlock()
		cancel(nil)
	}
}

// verify is the router's VerifyBlock: the default check, and on success the end of the
// waits for rk.
func (a *arrivals) verify(kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	var err error
	if kt == crypto.SSK {
		err = crypto.VerifySSK(rk, block)
	} else {
		err = crypto.VerifyCHK(rk, block)
	}
	if err != nil {
		return err
	}
	a.mu.Lock()
	list := a.waiting[rk]
	a.mu.Unlock()
	for _, w := range list {
		w.cancel(errArrived)
	}
	return nil
}
