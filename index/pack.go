package index

import (
	"context"
	"fmt"
)

// packer fills nodes with entries that arrive in order, each node holding as many as fit
// once compressed (spec §21.3): every kind of node the builder writes is filled by one
// packer. Compressing after every entry would cost a compression per entry; the packer
// instead estimates the compressed size from the last compression and compresses again only
// when the estimate passes the budget, and when a compression shows the node too full it
// searches for the longest run of entries that fits. A node costs about ten compressions.
//
// Memory is the entries of one node: at most MaxPlain bytes of them.
type packer[E any] struct {
	kind byte
	// encode is the plain body of a node of entries es.
	encode func(es []E) []byte
	// size is about how many plain bytes e adds to a node after the entries before.
	size func(before []E, e E) int
	// emit stores a node of entries es, whose bytes are node.
	emit func(ctx context.Context, es []E, node []byte) error

	pending []E
	plain   int // estimated plain bytes of pending
	checkAt int // plain bytes at which to compress again
	fits    int // pending[:fits] is known to fit
	sealed  []byte
}

func (p *packer[E]) add(ctx context.Context, e E) error {
	p.plain += p.size(p.pending, e)
	p.pending = append(p.pending, e)
	if p.checkAt == 0 {
		p.checkAt = MaxNode - 64 // DEFLATE's stored blocks add 5 bytes in 64 KiB at worst
	}
	if p.plain <= p.checkAt {
		return nil
	}
	node, body := p.try(len(p.pending))
	if node != nil {
		p.fits, p.sealed = len(p.pending), node
		// The entries to come compress about as these did.
		room := float64(MaxNode-len(node)) * float64(len(body)) / float64(len(node))
		p.checkAt = p.plain + max(int(room), 1)
		return nil
	}
	return p.cut(ctx)
}

// try encodes and compresses pending[:n]; node is nil if it does not fit one node.
func (p *packer[E]) try(n int) (node, body []byte) {
	body = p.encode(p.pending[:n])
	if len(body) > MaxPlain {
		return nil, body
	}
	node = seal(p.kind, body)
	if len(node) > MaxNode {
		return nil, body
	}
	return node, body
}

// cut emits the longest run of pending entries that fits a node, and keeps the rest.
func (p *packer[E]) cut(ctx context.Context) error {
	lo, hi := p.fits, len(p.pending) // pending[:lo] fits (or lo is 0), pending[:hi] does not
	node := p.sealed
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if n, _ := p.try(mid); n != nil {
			lo, node = mid, n
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		if node, _ = p.try(1); node == nil {
			panic(fmt.Sprintf("index: an entry of node kind %d does not fit a node", p.kind))
		}
		lo = 1
	}
	if err := p.emit(ctx, p.pending[:lo], node); err != nil {
		return err
	}
	rest := p.pending[lo:]
	p.pending, p.plain, p.fits, p.sealed, p.checkAt = nil, 0, 0, nil, 0
	for _, e := range rest {
		if err := p.add(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// flush emits the entries pending, in one node or more.
func (p *packer[E]) flush(ctx context.Context) error {
	for len(p.pending) > 0 {
		if node, _ := p.try(len(p.pending)); node != nil {
			es := p.pending
			p.pending, p.plain, p.fits, p.sealed, p.checkAt = nil, 0, 0, nil, 0
			return p.emit(ctx, es, node)
		}
		if err := p.cut(ctx); err != nil {
			return err
		}
	}
	return nil
}
