package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"lethe/crypto"
	"lethe/wire"
)

// ErrSelf: a noderef given as a friend is this node's own.
var ErrSelf = errors.New("that is this node's own noderef")

// friendList is the node's friends (darknet peers), as kept in the friends file. The file is
// the one source of truth: `lethe peers add` and `remove` edit it while the node runs, and
// the node reads it again when it changes (spec §19.4).
type friendList struct {
	path string

	mu      sync.Mutex
	refs    map[crypto.NodeID]*wire.NodeRef // guarded by mu
	modTime time.Time                       // of the file when last read; guarded by mu
	size    int64                           // guarded by mu
}

func loadFriends(path string) (*friendList, error) {
	f := &friendList{path: path, refs: map[crypto.NodeID]*wire.NodeRef{}}
	if _, _, err := f.reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// reload reads the file if it changed since the last read, and reports the friends added
// and the IDs removed.
func (f *friendList) reload() (added []*wire.NodeRef, removed []crypto.NodeID, err error) {
	st, err := os.Stat(f.path)
	var mod time.Time
	var size int64
	switch {
	case err == nil:
		mod, size = st.ModTime(), st.Size()
	case errors.Is(err, os.ErrNotExist):
	default:
		return nil, nil, err
	}
	f.mu.Lock()
	unchanged := mod.Equal(f.modTime) && size == f.size && (err == nil || len(f.refs) == 0)
	f.mu.Unlock()
	if unchanged {
		return nil, nil, nil
	}
	refs, err := ReadNodeRefs(f.path)
	if err != nil {
		return nil, nil, fmt.Errorf("friends: %w", err)
	}
	next := make(map[crypto.NodeID]*wire.NodeRef, len(refs))
	for _, r := range refs {
		next[r.ID()] = r
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, r := range next {
		if old, ok := f.refs[id]; !ok || !old.Equal(r) {
			added = append(added, r)
		}
	}
	for id := range f.refs {
		if _, ok := next[id]; !ok {
			removed = append(removed, id)
		}
	}
	f.refs, f.modTime, f.size = next, mod, size
	return added, removed, nil
}

func (f *friendList) has(id crypto.NodeID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.refs[id]
	return ok
}

func (f *friendList) list() []*wire.NodeRef {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*wire.NodeRef, 0, len(f.refs))
	for _, r := range f.refs {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *wire.NodeRef) int { return compareIDs(a.ID(), b.ID()) })
	return out
}

func compareIDs(a, b crypto.NodeID) int {
	return slices.Compare(a[:], b[:])
}

// AddFriend adds noderefs to the friends file of a data directory (replacing an older
// noderef of the same node) and returns the list as it now is. A running node picks the
// change up within a few seconds.
func AddFriend(dir string, own crypto.NodeID, refs ...*wire.NodeRef) ([]*wire.NodeRef, error) {
	path := FriendsFile(dir)
	list, err := ReadNodeRefs(path)
	if err != nil {
		return nil, err
	}
	for _, r := range refs {
		if r.ID() == own {
			return nil, ErrSelf
		}
		list = slices.DeleteFunc(list, func(o *wire.NodeRef) bool { return o.ID() == r.ID() })
		list = append(list, r)
	}
	return list, WriteNodeRefs(path, list)
}

// RemoveFriend removes the friends whose ID starts with prefix (at least 4 characters of
// the ID as noderefs print it) and returns those removed. A prefix that matches more than
// one friend removes none.
func RemoveFriend(dir, prefix string) ([]*wire.NodeRef, error) {
	if len(prefix) < 4 {
		return nil, fmt.Errorf("give at least 4 characters of the friend's ID, not %q", prefix)
	}
	path := FriendsFile(dir)
	list, err := ReadNodeRefs(path)
	if err != nil {
		return nil, err
	}
	var gone []*wire.NodeRef
	keep := list[:0:0]
	for _, r := range list {
		if len(r.ID().String()) >= len(prefix) && r.ID().String()[:len(prefix)] == prefix {
			gone = append(gone, r)
		} else {
			keep = append(keep, r)
		}
	}
	switch len(gone) {
	case 0:
		return nil, fmt.Errorf("no friend's ID starts with %q", prefix)
	case 1:
	default:
		return nil, fmt.Errorf("%d friends' IDs start with %q; give more of the ID", len(gone), prefix)
	}
	return gone, WriteNodeRefs(path, keep)
}

// AddFriend makes ref a friend of this running node: it is written to the friends file and
// dialled at once.
func (n *Node) AddFriend(ctx context.Context, ref *wire.NodeRef) error {
	if _, err := AddFriend(n.cfg.Dir, n.ID(), ref); err != nil {
		return err
	}
	if _, _, err := n.friends.reload(); err != nil {
		return err
	}
	return n.dial(ctx, ref)
}

func (n *Node) dial(ctx context.Context, ref *wire.NodeRef) error {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	return n.tr.Connect(ctx, ref)
}

// syncFriends reads the friends file again if it changed: new friends are dialled, removed
// ones disconnected. With all, every friend not connected is dialled too.
func (n *Node) syncFriends(ctx context.Context, all bool) {
	added, removed, err := n.friends.reload()
	if err != nil {
		n.log.Warn("friends file not read; keeping the friends known", "err", err)
	}
	for _, id := range removed {
		n.log.Info("friend removed", "peer", id)
		n.tr.Disconnect(id)
	}
	dial := added
	if all {
		linked := map[crypto.NodeID]bool{}
		for _, l := range n.tr.Links() {
			linked[l.ID] = true
		}
		dial = nil
		for _, r := range n.friends.list() {
			if !linked[r.ID()] {
				dial = append(dial, r)
			}
		}
	}
	var wg sync.WaitGroup
	for _, r := range dial {
		if n.router.Refuses(r.ID()) {
			continue // dropped for bad blocks; it is not dialled until the router forgives it
		}
		wg.Go(func() {
			if err := n.dial(ctx, r); err != nil {
				n.log.Debug("friend not reached", "peer", r.ID(), "err", err)
			}
		})
	}
	wg.Wait()
}
