package fcp

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"lethe/crypto"
)

// USK subscriptions (spec §16.13): SubscribeUSK and UnsubscribeUSK.

// DefaultUSKPollInterval is how often a subscription looks for a newer edition.
const DefaultUSKPollInterval = time.Minute

// EditionFinder is what a Backend implements to serve SubscribeUSK: the newest edition of a
// USK site it can find from u's edition on, u at that edition. With poll false it looks only
// at what the node already knows, without asking the network. An edition not found is
// ErrDataNotFound.
type EditionFinder interface {
	LatestEdition(ctx context.Context, u crypto.RequestURI, poll bool) (crypto.RequestURI, error)
}

// subscriptions are a connection's USK subscriptions, by Identifier.
type subscriptions struct {
	mu   sync.Mutex
	subs map[string]context.CancelFunc // guarded by mu
}

// any reports whether a subscription runs: a connection that has one waits for news, not
// for the client, and is not closed for idling.
func (s *subscriptions) any() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs) > 0
}

// subscribeUSK answers SubscribeUSK (URI, Identifier, DontPoll) with SubscribedUSK, then
// sends SubscribedUSKUpdate for each newer edition found, looking every USKPollInterval
// until UnsubscribeUSK or the end of the connection.
func (c *conn) subscribeUSK(m *Message) {
	id, err := requiredField(m, "Identifier")
	if err != nil {
		c.fieldError(m, err)
		return
	}
	uri, err := requestURIField(m, "URI")
	if err != nil {
		c.fieldError(m, err)
		return
	}
	if uri.Type != crypto.USK {
		c.protocolError(CodeInvalidField, "SubscribeUSK: "+truncate(uri.String(), 64)+" is not a USK", id, false, false)
		return
	}
	dontPoll, err := boolField(m, "DontPoll", false)
	if err != nil {
		c.fieldError(m, err)
		return
	}
	finder, ok := c.srv.cfg.Backend.(EditionFinder)
	if !ok {
		c.protocolError(CodeNotSupported, "SubscribeUSK: this node cannot follow editions", id, false, false)
		return
	}
	ctx, cancel := context.WithCancel(c.ctx)
	c.subs.mu.Lock()
	if c.subs.subs == nil {
		c.subs.subs = map[string]context.CancelFunc{}
	}
	if _, taken := c.subs.subs[id]; taken {
		c.subs.mu.Unlock()
		cancel()
		c.send(NewMessage("IdentifierCollision", "Identifier", id, "Global", "false"), nil)
		return
	}
	c.subs.subs[id] = cancel
	c.subs.mu.Unlock()
	c.send(NewMessage("SubscribedUSK", "Identifier", id, "URI", uri.String(), "DontPoll", strconv.FormatBool(dontPoll)), nil)
	c.srv.wg.Go(func() {
		defer cancel()
		c.followUSK(ctx, finder, id, uri, !dontPoll)
	})
}

// followUSK looks for newer editions than uri's until ctx ends.
func (c *conn) followUSK(ctx context.Context, finder EditionFinder, id string, uri crypto.RequestURI, poll bool) {
	last := uri.Edition - 1 // the edition asked for is news too, once found
	every := c.srv.cfg.USKPollInterval
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		latest, err := finder.LatestEdition(ctx, uri.WithEdition(max(uri.Edition, last)), poll)
		switch {
		case err == nil && latest.Edition > last:
			last = latest.Edition
			c.send(NewMessage("SubscribedUSKUpdate", "Identifier", id, "URI", latest.String(),
				"Edition", strconv.FormatInt(latest.Edition, 10), "NewKnownGood", "true", "NewSlotToo", "true"), nil)
		case err != nil && !errors.Is(err, ErrDataNotFound) && ctx.Err() == nil:
			c.srv.log.Debug("fcp: a USK subscription's search failed", "err", err)
		}
		if ctx.Err() != nil {
			return
		}
		if poll {
			c.send(NewMessage("SubscribedUSKRoundFinished", "Identifier", id), nil)
		}
		t.Reset(every)
	}
}

// unsubscribeUSK ends the subscription UnsubscribeUSK names. Freenet sends no reply.
func (c *conn) unsubscribeUSK(m *Message) {
	id := m.Value("Identifier")
	c.subs.mu.Lock()
	cancel, ok := c.subs.subs[id]
	delete(c.subs.subs, id)
	c.subs.mu.Unlock()
	if !ok {
		c.protocolError(CodeNoSuchIdentifier, "UnsubscribeUSK: no subscription "+truncate(id, 64), id, false, false)
		return
	}
	cancel()
}
