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
	if f.cfg.Cache != nil {
		if b, ok := f.cfg.Cache.Load(key.Routing); ok {
			if payload, err := crypto.DecodeCHK(key, b); err == nil {
				f.report(func(p *Progress) { p.BlocksDone++ })
				return payload, nil
			}
		}
	}
	b, err := f.g.GetBlock(ctx, crypto.CHK, key.Routing, attempt)
	if err == nil {
		var payload []byte
		if payload, err = crypto.DecodeCHK(key, b); err == nil {
			f.store(key.Routing, b)
			f.report(func(p *Progress) { p.BlocksDone++ })
			return payload, nil
		}
	}
	if ctx.Err() == nil {
		f.report(func(p *Progress) { p.BlocksFailed++ })
	}
	return nil, fmt.Errorf("CHK block %v: %w", key.Routing, err)
}

// sskPayload fetches, verifies and decrypts one SSK block.
func (f *Fetcher) sskPayload(ctx context.Context, key crypto.SSKKey, attempt int) ([]byte, error) {
	rk := key.RoutingKey()
	if f.cfg.Cache != nil {
		if b, ok := f.cfg.Cache.Load(rk); ok {
			if payload, err := crypto.DecodeSSK(key, b); err == nil {
				f.report(func(p *Progress) { p.BlocksDone++ })
				return payload, nil
			}
		}
	}
	b, err := f.g.GetBlock(ctx, crypto.SSK, rk, attempt)
	if err == nil {
		var payload []byte
		if payload, err = crypto.DecodeSSK(key, b); err == nil {
			f.store(rk, b)
			f.report(func(p *Progress) { p.BlocksDone++ })
			return payload, nil
		}
	}
	if ctx.Err() == nil {
		f.report(func(p *Progress) { p.BlocksFailed++ })
	}
	return nil, fmt.Errorf("SSK block %v: %w", rk, err)
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
