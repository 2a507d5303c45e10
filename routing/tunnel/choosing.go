package tunnel

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"lethe/crypto"
)

// Choosing a tunnel's hops (spec §18.11.3): guards among the node's own peers, kept; then a
// middle and an end each drawn from the previous hop's peer list, leaving out the node's own
// peers; lists too short to choose from are refused where longer ones exist.

// Tuning of the choice.
const (
	// buildAttempts is how many times a build is tried before the request fails; the last
	// attempt takes what it finds, short lists and all.
	buildAttempts = 4
	// guardHistory is how many recent builds through a guard are weighed: a guard through
	// which more than half failed, of at least guardMinBuilds, is replaced.
	guardHistory   = 10
	guardMinBuilds = 5
	// shortListTime is how long a peer whose list was too short is not taken as a guard.
	shortListTime = 10 * time.Minute
)

// guard is one of the node's guards; guarded by own's lock.
type guard struct {
	id      crypto.NodeID
	results []bool // the last guardHistory builds through it: true if it was built
}

// errShortList: a hop showed too short a peer list to choose from; the build is tried again
// with other hops. It is not the guard's fault, and not counted against it.
var errShortList = errors.New("peer list too short")

// build builds the index-th tunnel of a session: through the index-th guard, with fresh hops
// after it, trying again with other hops (and, if the guard fails too often, another guard)
// up to buildAttempts times.
func (t *Tunnels) build(ctx context.Context, index int) (*tunnel, error) {
	var lastErr error = ErrNoTunnel
	for attempt := range buildAttempts {
		g, err := t.guardFor(index)
		if err != nil {
			return nil, err
		}
		tu, err := t.buildThrough(ctx, g, attempt == buildAttempts-1)
		t.recordBuild(g, err)
		if err == nil {
			t.trace(Event{Kind: EventBuilt, Hops: tu.hopIDs()})
			return tu, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		lastErr = err
	}
	if errors.Is(lastErr, ErrNoTunnel) {
		return nil, lastErr
	}
	return nil, fmt.Errorf("%w: %v", ErrNoTunnel, lastErr)
}

// buildThrough builds one tunnel through guard g. Unless last, a hop whose list is shorter
// than the node's own peers show to be possible fails the build.
func (t *Tunnels) buildThrough(ctx context.Context, g crypto.NodeID, last bool) (*tunnel, error) {
	tu, err := t.open(ctx, g)
	if err != nil {
		return nil, err
	}
	mine := t.peerIDs()
	need := min(minPeerList, len(mine)/2)
	for len(tu.hops) < tunnelLinks {
		tu.mu.Lock()
		at := tu.hops[len(tu.hops)-1]
		onTunnel := make([]crypto.NodeID, len(tu.hops))
		for i, h := range tu.hops {
			onTunnel[i] = h.id
		}
		tu.mu.Unlock()
		listed, all, preferred := t.candidates(at, onTunnel, mine)
		if listed < need && !last {
			tu.close()
			if len(onTunnel) == 1 {
				t.markShort(g)
			}
			return nil, fmt.Errorf("%w: %v lists %d peers, want %d", errShortList, at.id.Short(), listed, need)
		}
		pool := preferred
		if len(pool) == 0 {
			pool = all // only the node's own peers are left: a small network
		}
		if len(pool) == 0 {
			break // nothing beyond this hop: the tunnel ends here
		}
		t.own.Lock()
		if len(tu.hops) == tunnelLinks-1 {
			pool = t.notBusyLocked(pool)
		}
		a := pool[t.own.rng.IntN(len(pool))]
		t.own.Unlock()
		if err := tu.extend(ctx, a); err != nil {
			tu.fail(err)
			return nil, err
		}
	}
	return tu, nil
}

// candidates are the attestations in hop at's list that may be the next hop: valid, naming
// at as the peer, and signed by a node not on the tunnel and not this node. preferred leaves
// out this node's own peers too. listed counts the distinct valid attestations in the list,
// this node's own included: the length of the list, by which a hop is judged.
func (t *Tunnels) candidates(at ownHop, onTunnel, mine []crypto.NodeID) (listed int, all, preferred []*crypto.TunnelAttestation) {
	now := t.cfg.Now()
	seen := map[crypto.NodeID]bool{}
	for _, a := range at.peers {
		if a.Peer != at.id || !now.Before(a.NotAfter) || seen[a.Signer] {
			continue
		}
		seen[a.Signer] = true
		listed++
		if a.Signer == t.me || slices.Contains(onTunnel, a.Signer) {
			continue
		}
		all = append(all, a)
		if !slices.Contains(mine, a.Signer) {
			preferred = append(preferred, a)
		}
	}
	return listed, all, preferred
}

// guardFor returns the guard of a session's index-th tunnel, choosing guards as needed among
// the node's peers that attested a tunnel key: the guards whose links are gone are replaced
// first. With fewer peers than tunnels, guards serve several.
func (t *Tunnels) guardFor(index int) (crypto.NodeID, error) {
	peers := t.peerIDs()
	now := t.cfg.Now()
	t.own.Lock()
	before := t.guardsLocked()
	defer func() {
		after := t.guardsLocked()
		t.own.Unlock()
		if !slices.Equal(before, after) {
			t.guardsChanged(after)
		}
	}()
	for i, g := range t.own.guards {
		if g != nil && !slices.Contains(peers, g.id) {
			t.own.guards[i] = nil
		}
	}
	for len(t.own.guards) <= index {
		t.own.guards = append(t.own.guards, nil)
	}
	if t.own.guards[index] == nil {
		var eligible []crypto.NodeID
		for _, p := range peers {
			if !t.isGuardLocked(p) && !now.Before(t.shortUntilLocked(p)) {
				eligible = append(eligible, p)
			}
		}
		if len(eligible) > 0 {
			t.own.guards[index] = &guard{id: eligible[t.own.rng.IntN(len(eligible))]}
		}
	}
	if g := t.own.guards[index]; g != nil {
		return g.id, nil
	}
	// No peer left to be a guard of its own: share one.
	for i := range t.own.guards {
		if g := t.own.guards[(index+i)%len(t.own.guards)]; g != nil {
			return g.id, nil
		}
	}
	return crypto.NodeID{}, fmt.Errorf("%w: no peer has attested a tunnel key", ErrNoTunnel)
}

func (t *Tunnels) isGuardLocked(id crypto.NodeID) bool {
	for _, g := range t.own.guards {
		if g != nil && g.id == id {
			return true
		}
	}
	return false
}

// Guards lists the node's current guards (for the status page and tests).
func (t *Tunnels) Guards() []crypto.NodeID {
	t.own.Lock()
	defer t.own.Unlock()
	return t.guardsLocked()
}

func (t *Tunnels) guardsLocked() []crypto.NodeID {
	var out []crypto.NodeID
	for _, g := range t.own.guards {
		if g != nil {
			out = append(out, g.id)
		}
	}
	return out
}

// guardsChanged tells the node its guards; callers hold no lock.
func (t *Tunnels) guardsChanged(guards []crypto.NodeID) {
	if t.cfg.GuardsChanged != nil {
		t.cfg.GuardsChanged(guards)
	}
}

// recordBuild weighs a build through guard g (path bias): a guard through which more than
// half of the recent builds failed is replaced. A build refused for a short list does not
// count.
func (t *Tunnels) recordBuild(g crypto.NodeID, err error) {
	if errors.Is(err, errShortList) || errors.Is(err, context.Canceled) {
		return
	}
	t.own.Lock()
	replaced := false
	defer func() {
		guards := t.guardsLocked()
		t.own.Unlock()
		if replaced {
			t.guardsChanged(guards)
		}
	}()
	for i, gd := range t.own.guards {
		if gd == nil || gd.id != g {
			continue
		}
		gd.results = append(gd.results, err == nil)
		if len(gd.results) > guardHistory {
			gd.results = gd.results[1:]
		}
		failed := 0
		for _, ok := range gd.results {
			if !ok {
				failed++
			}
		}
		if len(gd.results) >= guardMinBuilds && 2*failed > len(gd.results) {
			t.log.Warn("replacing a guard: most tunnels through it failed", "guard", g, "failed", failed, "of", len(gd.results))
			t.own.guards[i] = nil
			t.markShortLocked(g) // not taken again for a while
			replaced = true
		}
	}
}

// markShort keeps a peer whose list was too short from being a guard for shortListTime, and
// drops it as a guard now.
func (t *Tunnels) markShort(id crypto.NodeID) {
	t.own.Lock()
	t.markShortLocked(id)
	replaced := false
	for i, g := range t.own.guards {
		if g != nil && g.id == id {
			t.own.guards[i] = nil
			replaced = true
		}
	}
	guards := t.guardsLocked()
	t.own.Unlock()
	if replaced {
		t.guardsChanged(guards)
	}
}

func (t *Tunnels) markShortLocked(id crypto.NodeID) {
	if t.own.short == nil {
		t.own.short = map[crypto.NodeID]time.Time{}
	}
	t.own.short[id] = t.cfg.Now().Add(shortListTime)
}

func (t *Tunnels) shortUntilLocked(id crypto.NodeID) time.Time { return t.own.short[id] }

// notBusyLocked leaves out of a pool of ends those that answered overloaded, or were too slow
// and hedged, within retireEvery, unless that leaves none: the tunnel that replaces a busy
// end's should not end there again. Leaving a node out of one draw tells no one anything.
// Callers hold own.
func (t *Tunnels) notBusyLocked(pool []*crypto.TunnelAttestation) []*crypto.TunnelAttestation {
	now := t.cfg.Now()
	var out []*crypto.TunnelAttestation
	for _, a := range pool {
		if until, ok := t.own.busyEnds[a.Signer]; !ok || !now.Before(until) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return pool
	}
	return out
}

// markBusyEnd records that end answered overloaded or was hedged (notBusyLocked).
func (t *Tunnels) markBusyEnd(end crypto.NodeID) {
	t.own.Lock()
	defer t.own.Unlock()
	now := t.cfg.Now()
	if t.own.busyEnds == nil {
		t.own.busyEnds = map[crypto.NodeID]time.Time{}
	}
	for id, until := range t.own.busyEnds {
		if !now.Before(until) {
			delete(t.own.busyEnds, id)
		}
	}
	t.own.busyEnds[end] = now.Add(retireEvery)
}
