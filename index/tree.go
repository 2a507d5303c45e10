package index

import (
	"context"
	"fmt"
)

// innerBudget is the room for entries in an inner node: the node less its header, height
// and count.
const innerBudget = MaxNode - 2 - 2 - 3

// levels builds a tree bottom-up as its leaves arrive in key order (a B+-tree bulk load):
// each level holds the entries of the node it is filling, and a full node is inserted and
// named in the level above. Memory is a node per level, whatever the tree's size.
type levels struct {
	put func(context.Context, []byte) (Ref, error)
	lv  [][]entry // lv[h]: entries of the node being filled at height h
	sz  []int     // encoded size of lv[h]
}

func (t *levels) add(ctx context.Context, h int, e entry) error {
	if h >= maxHeight {
		return fmt.Errorf("index: tree deeper than %d levels", maxHeight)
	}
	for len(t.lv) <= h {
		t.lv = append(t.lv, nil)
		t.sz = append(t.sz, 0)
	}
	es := entrySize(e)
	if len(t.lv[h]) > 0 && t.sz[h]+es > innerBudget {
		if err := t.emit(ctx, h); err != nil {
			return err
		}
	}
	t.lv[h] = append(t.lv[h], e)
	t.sz[h] += es
	return nil
}

// emit inserts the node being filled at height h and names it one level up.
func (t *levels) emit(ctx context.Context, h int) error {
	es := t.lv[h]
	ref, err := t.put(ctx, encodeInner(tree{Height: h, Entries: es}))
	if err != nil {
		return err
	}
	t.lv[h], t.sz[h] = nil, 0
	return t.add(ctx, h+1, entry{Key: es[0].Key, Ref: ref})
}

// finish inserts what every level below the highest holds and returns the highest level's
// entries: the tree's top, which goes into the segment's first node.
func (t *levels) finish(ctx context.Context) (tree, error) {
	if len(t.lv) == 0 {
		return tree{}, nil
	}
	for h := 0; h < len(t.lv)-1; h++ {
		if len(t.lv[h]) > 0 {
			if err := t.emit(ctx, h); err != nil {
				return tree{}, err
			}
		}
	}
	h := len(t.lv) - 1
	return tree{Height: h, Entries: t.lv[h]}, nil
}

// raise inserts a tree's top as inner nodes and returns the top one level higher, for a
// segment whose first node cannot hold both tops.
func raise(ctx context.Context, put func(context.Context, []byte) (Ref, error), top tree) (tree, error) {
	up := &levels{put: put}
	for range top.Height {
		up.lv = append(up.lv, nil)
		up.sz = append(up.sz, 0)
	}
	for _, e := range top.Entries {
		if err := up.add(ctx, top.Height, e); err != nil {
			return tree{}, err
		}
	}
	if err := up.emit(ctx, top.Height); err != nil {
		return tree{}, err
	}
	return up.finish(ctx)
}

func treeSize(t tree) int {
	n := uvarintLen(uint64(t.Height)) + uvarintLen(uint64(len(t.Entries)))
	for _, e := range t.Entries {
		n += entrySize(e)
	}
	return n
}
