package insert

import (
	"fmt"

	"lethe/crypto"
	"lethe/metadata"
)

// DefaultPartBytes is how much of a stored stream one splitfile carries before the insert
// starts the next part (spec §12.2, kind 5; the format allows any length). A part of 2 GiB
// has a descriptor of 4 MiB (32 bytes for each of its 65,536 data and 65,536 check blocks):
// that is what an insert or a fetch holds of a file's keys at once, whatever its size, and a
// 1 TiB file takes 512 parts, whose list (36 KiB) nests in two blocks.
const DefaultPartBytes = 2 << 30

func (c *Config) partBytes() int64 {
	if c.PartBytes > 0 {
		// Whole blocks: a part ends where a data block does.
		return max(c.PartBytes/metadata.BlockSize, 1) * metadata.BlockSize
	}
	return DefaultPartBytes
}

// parts cuts a stored stream into parts of max bytes: each full part's splitfile is finished,
// its document stored under a CHK top block of its own (nested as it needs), and the next part
// starts in a new stream. A stream no longer than max stays one splitfile (or inline data).
type parts struct {
	w    *Writer
	max  int64
	cur  int64 // bytes in the current part
	done []metadata.Part
}

func (p *parts) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		if p.cur == p.max {
			if err := p.next(); err != nil {
				return 0, err
			}
		}
		take := int(min(int64(len(b)), p.max-p.cur))
		if _, err := p.w.stream.Write(b[:take]); err != nil {
			return 0, err
		}
		p.cur += int64(take)
		b = b[take:]
	}
	return n, nil
}

// next finishes the current part and starts the next.
func (p *parts) next() error {
	_, split, err := p.w.stream.finish()
	if err != nil {
		return err
	}
	if err := p.add(split); err != nil {
		return err
	}
	p.w.stream = newStream(p.w.ctx, p.w.in, -1)
	p.cur = 0
	return nil
}

// add stores the top block of a finished part and records it.
func (p *parts) add(split *metadata.Splitfile) error {
	if split == nil {
		return fmt.Errorf("insert: part %d is empty", len(p.done))
	}
	doc := &metadata.Document{Kind: metadata.KindSplitfile, Size: split.Length, Split: split}
	uri, err := p.w.in.storeTop(p.w.ctx, crypto.InsertURI{Type: crypto.CHK}, doc)
	if err != nil {
		return fmt.Errorf("insert: part %d: %w", len(p.done), err)
	}
	p.done = append(p.done, metadata.Part{Length: split.Length, Key: crypto.CHKKey{Routing: uri.Key, Crypto: uri.Crypto}})
	return nil
}
