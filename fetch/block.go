package fetch

import (
	"context"
	"errors"
	"fmt"

	"lethe/crypto"
)

// chkPayload fetches one CHK block (from the cache if it holds it), verifies and decrypts it.
// A block that fails verification is refused like a missing one, so that the caller tries
// another route or another block.
func (f *Fetcher) chkPayload(ctx context.Context, key crypto.CHKKey, attempt int) ([]byte, error) {
	return f.payload(ctx, crypto.CHK, key.Routing, attempt, func(b []byte) ([]byte, error) { return crypto.DecodeCHK(key, b) })
}

// sskPayload fetches, verifies and decrypts one SSK block.
func (f *Fetcher) sskPayload(ctx context.Context, key crypto.SSKKey, attempt int) ([]byte, error) {
	return f.payload(ctx, crypto.SSK, key.RoutingKey(), attempt, func(b []byte) ([]byte, error) { return crypto.DecodeSSK(key, b) })
}

// payload gets the block under rk from the cache or the network and decodes it with decode,
// which verifies it; a verified block from the network is kept in the cache.
func (f *Fetcher) payload(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey, attempt int, decode func([]byte) ([]byte, error)) ([]byte, error) {
	if f.cfg.Cache != nil {
		if b, ok := f.cfg.Cache.Load(rk); ok {
			if payload, err := decode(b); err == nil {
				f.report(func(p *Progress) { p.BlocksDone++ })
				return payload, nil
			}
		}
	}
	b, err := f.g.GetBlock(ctx, kt, rk, attempt)
	if err == nil {
		var payload []byte
		if payload, err = decode(b); err == nil {
			f.store(rk, b)
			f.report(func(p *Progress) { p.BlocksDone++ })
			return payload, nil
		}
	}
	if ctx.Err() == nil {
		f.report(func(p *Progress) { p.BlocksFailed++ })
	}
	return nil, fmt.Errorf("%v block %v: %w", kt, rk, err)
}

func (f *Fetcher) store(rk crypto.RoutingKey, block []byte) {
	if f.cfg.Cache == nil {
		return
	}
	if err := f.cfg.Cache.Store(rk, block); err != nil {
		f.cfg.Logger.Debug("fetch: cannot keep block for resumption", "key", rk, "err", err)
	}
}

// topPayload fetches the payload of the block a URI names, trying fresh routes up to
// Attempts times.
func (f *Fetcher) topPayload(ctx context.Context, u crypto.RequestURI) ([]byte, error) {
	var (
		payload []byte
		err     error
	)
	f.report(func(p *Progress) { p.BlocksTotal++; p.BlocksRequired++ })
	for attempt := 0; attempt < f.cfg.Attempts; attempt++ {
		if u.Type == crypto.CHK {
			key, kerr := u.CHKKey()
			if kerr != nil {
				return nil, kerr
			}
			payload, err = f.chkPayload(ctx, key, attempt)
		} else {
			key, kerr := u.SSKKey()
			if kerr != nil {
				return nil, kerr
			}
			payload, err = f.sskPayload(ctx, key, attempt)
		}
		if err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil && !errors.Is(err, ErrBlockNotFound) && ctx.Err() == nil {
		// Blocks that fail verification on every route are as good as missing.
		err = fmt.Errorf("%w: %w", ErrBlockNotFound, err)
	}
	return payload, err
}
