package insert

import (
	"context"

	"lethe/crypto"
	"lethe/metadata"
	"lethe/session"
)

// Redirect inserts under target (CHK@ or an SSK, USK or KSK insert URI) a redirect to content
// already in the network, to (spec §12.3): a top block holding only a redirect document,
// which a fetch of target follows. It returns the URI to fetch with; for a USK whose edition
// is taken, the next free edition is used.
func Redirect(ctx context.Context, p BlockPutter, target crypto.InsertURI, to crypto.RequestURI, cfg Config) (crypto.RequestURI, error) {
	ctx = session.Start(ctx) // its block travels as one session (package session)
	if err := checkTarget(target); err != nil {
		return crypto.RequestURI{}, err
	}
	in := newInserter(p, cfg)
	return in.storeTop(ctx, target, &metadata.Document{Kind: metadata.KindRedirect, MIMEType: cfg.MIMEType, Target: to})
}
