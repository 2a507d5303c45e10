package index

import (
	"context"
	"fmt"
)

// levels builds a tree bottom-up as its leaves arrive in key order (a B+-tree bulk load):
// each level fills an inner node, and a full node is inserted and named in the level above.
// Memory is a node per level, whatever the tree's size.
type levels struct {
	put func(context.Context, []byte) (Ref, error)
	lv  []*packer[entry] // lv[h]: the node being filled at height h
}

func (t *levels) level(h int) *packer[entry] {
	for len(t.lv) <= h {
		h := len(t.lv)
		t.lv = append(t.lv, &packer[entry]{kind: kindInner,
			encode: func(es []entry) []byte { return innerBody(tree{Height: h, Entries: es}) },
			size:   func(_ []entry, e entry) int { return entrySize(e) },
			emit: func(ctx context.Context, es []entry, node []byte) error {
				ref, err := t.put(ctx, node)
				if err != nil {
					return err
				}
				return t.add(ctx, h+1, entry{Key: es[0].Key, Ref: ref})
			}})
	}
	return t.lv[h]
}

func (t *levels) add(ctx context.Context, h int, e entry) error {
	if h >= maxHeight {
		return fmt.Errorf("index: tree deeper than %d levels", maxHeight)
	}
	return t.level(h).add(ctx, e)
}

// finish inserts what every level below the highest holds and returns the highest level's
// entries: the tree's top, which goes into the segment's first node.
func (t *levels) finish(ctx context.Context) (tree, error) {
	if len(t.lv) == 0 {
		return tree{}, nil
	}
	for h := 0; h < len(t.lv)-1; h++ { // a flush may add a level
		if err := t.lv[h].flush(ctx); err != nil {
			return tree{}, err
		}
	}
	h := len(t.lv) - 1
	return tree{Height: h, Entries: t.lv[h].pending}, nil
}

// raise inserts a tree's top as inner nodes and returns the top one level higher, for a
// segment whose first node cannot hold both tops.
func raise(ctx context.Context, put func(context.Context, []byte) (Ref, error), top tree) (tree, error) {
	up := &levels{put: put}
	for _, e := range top.Entries {
		if err := up.add(ctx, top.Height, e); err != nil {
			return tree{}, err
		}
	}
	if err := up.level(top.Height).flush(ctx); err != nil {
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
