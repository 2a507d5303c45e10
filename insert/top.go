package insert

import (
	"context"
	"errors"
	"fmt"

	"lethe/crypto"
	"lethe/metadata"
)

// storeTop inserts the top block that target will name, holding doc (spec §12.3):
//   - a CHK top block holds the document if it fits in 32 KiB; a larger document is itself
//     split, and the top block holds a small splitfile document with the Metadata flag
//     (nested metadata), as many levels as it takes;
//   - an SSK, USK or KSK top block holds the document if it fits in 4 KiB, and otherwise a
//     redirect to a CHK top block that holds it.
//
// A USK edition already taken by different content moves the insert to the next edition.
func (in *inserter) storeTop(ctx context.Context, target crypto.InsertURI, doc *metadata.Document) (crypto.RequestURI, error) {
	b, err := doc.Encode()
	if err != nil {
		return crypto.RequestURI{}, fmt.Errorf("insert: %w", err)
	}
	if target.Type == crypto.CHK {
		for len(b) > metadata.BlockSize {
			if doc, err = in.nest(ctx, b); err != nil {
				return crypto.RequestURI{}, err
			}
			if b, err = doc.Encode(); err != nil {
				return crypto.RequestURI{}, fmt.Errorf("insert: %w", err)
			}
		}
		var (
			block []byte
			key   crypto.CHKKey
		)
		if in.cfg.Convergent {
			block, key, err = crypto.EncodeCHKConvergent(b)
		} else {
			block, key, err = crypto.EncodeCHK(in.cfg.Rand, b)
		}
		if err != nil {
			return crypto.RequestURI{}, fmt.Errorf("insert: %w", err)
		}
		in.report(func(p *Progress) { p.BlocksTotal++ })
		if err := in.put(ctx, crypto.CHK, key.Routing, block); err != nil {
			return crypto.RequestURI{}, err
		}
		return crypto.RequestURI{Type: crypto.CHK, Key: key.Routing, Crypto: key.Crypto}, nil
	}

	if len(b) > crypto.SSKDataSize {
		chk, err := in.storeTop(ctx, crypto.InsertURI{Type: crypto.CHK}, doc)
		if err != nil {
			return crypto.RequestURI{}, err
		}
		redirect := metadata.Document{Kind: metadata.KindRedirect, Target: chk}
		if b, err = redirect.Encode(); err != nil {
			return crypto.RequestURI{}, fmt.Errorf("insert: %w", err)
		}
	}
	for skips := 0; ; skips++ {
		ik, err := target.SSKInsertKey()
		if err != nil {
			return crypto.RequestURI{}, fmt.Errorf("insert: %w", err)
		}
		block, rk, err := ik.Encode(b)
		if err != nil {
			return crypto.RequestURI{}, fmt.Errorf("insert: %w", err)
		}
		in.report(func(p *Progress) { p.BlocksTotal++ })
		err = in.put(ctx, crypto.SSK, rk, block)
		if err == nil {
			break
		}
		if !errors.Is(err, crypto.ErrCollision) || target.Type != crypto.USK ||
			skips >= in.cfg.MaxEditionSkips || target.Edition >= crypto.MaxEdition {
			return crypto.RequestURI{}, err
		}
		in.cfg.Logger.Debug("insert: USK edition taken, trying the next", "edition", target.Edition)
		target = target.WithEdition(target.Edition + 1)
	}
	return target.RequestURI()
}

// nest splits an encoded document that is too large for a top block into blocks of its own
// and returns the small document that describes them.
func (in *inserter) nest(ctx context.Context, b []byte) (*metadata.Document, error) {
	s := newStream(ctx, in, -1)
	if _, err := s.Write(b); err != nil {
		s.abort(err)
		return nil, err
	}
	_, split, err := s.finish()
	if err != nil {
		return nil, err
	}
	return &metadata.Document{Kind: metadata.KindSplitfile, Metadata: true, Size: int64(len(b)), Split: split}, nil
}
