package insert

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"lethe/crypto"
	"lethe/metadata"
)

// countingPutter counts the blocks it is given and keeps none.
type countingPutter struct{ blocks atomic.Int64 }

func (c *countingPutter) PutBlock(context.Context, crypto.KeyType, crypto.RoutingKey, []byte) error {
	c.blocks.Add(1)
	return nil
}

// TestTerabyteMetadataTree builds the metadata of a 1 TiB file as the inserter lays it out,
// without its content: 512 parts of DefaultPartBytes, each a splitfile of full 128 + 128
// segments with the last blocks shared evenly (spec §13.2), stored under its own top block
// through nested metadata, then the parts document under the file's top block. Each document
// must encode within the format's limits, nest into one top block, decode back to itself,
// and describe exactly 1 TiB; what an insert or a fetch holds at once is one part's
// descriptor.
func TestTerabyteMetadataTree(t *testing.T) {
	const size = 1 << 40
	r := rand.NewChaCha8([32]byte{2})
	in := newInserter(&countingPutter{}, Config{Rand: rand.NewChaCha8([32]byte{1})})
	ctx := context.Background()

	blocks := DefaultPartBytes / metadata.BlockSize
	split := &metadata.Splitfile{Length: DefaultPartBytes, Derived: true}
	r.Read(split.Secret[:])
	full := blocks/metadata.SegmentDataBlocks - 2
	layout := make([]int, full)
	for i := range layout {
		layout[i] = metadata.SegmentDataBlocks
	}
	layout = append(layout, metadata.SplitEvenly(2*metadata.SegmentDataBlocks)...)
	for _, k := range layout {
		seg := metadata.Segment{DataBlocks: k, CheckBlocks: metadata.CheckBlocks(k)}
		seg.Routing = make([]crypto.RoutingKey, seg.Blocks())
		for i := range seg.Routing {
			r.Read(seg.Routing[i][:])
		}
		split.Segments = append(split.Segments, seg)
	}
	partDoc := &metadata.Document{Kind: metadata.KindSplitfile, Size: split.Length, Split: split}
	b, err := partDoc.Encode()
	if err != nil {
		t.Fatalf("a part's document: %v", err)
	}
	if len(b) > metadata.MaxDocument {
		t.Fatalf("a part's document is %d bytes, over the format's %d", len(b), metadata.MaxDocument)
	}
	put := in.p.(*countingPutter)
	partURI, err := in.storeTop(ctx, crypto.InsertURI{Type: crypto.CHK}, partDoc)
	if err != nil {
		t.Fatalf("store a part's top block: %v", err)
	}
	partBlocks := put.blocks.Load()
	t.Logf("a part of %d GiB: %d segments, a descriptor of %.1f MiB, nested into %d blocks under one top block",
		DefaultPartBytes>>30, len(split.Segments), float64(len(b))/(1<<20), partBlocks)

	n := size / DefaultPartBytes
	parts := make([]metadata.Part, n)
	for i := range parts {
		parts[i] = metadata.Part{Length: DefaultPartBytes, Key: crypto.CHKKey{Routing: partURI.Key, Crypto: partURI.Crypto}}
		r.Read(parts[i].Key.Routing[:]) // each part its own top block
	}
	top := &metadata.Document{Kind: metadata.KindParts, MIMEType: "video/webm", Size: size, Parts: parts}
	tb, err := top.Encode()
	if err != nil {
		t.Fatalf("the parts document: %v", err)
	}
	back, err := metadata.Decode(tb)
	if err != nil {
		t.Fatalf("decode the parts document: %v", err)
	}
	if back.Size != size || metadata.PartsLength(back.Parts) != size || len(back.Parts) != n || back.Parts[n-1] != parts[n-1] {
		t.Fatalf("the parts document decodes to %d parts of %d bytes in all, want %d of %d", len(back.Parts), metadata.PartsLength(back.Parts), n, int64(size))
	}
	put.blocks.Store(0)
	if _, err := in.storeTop(ctx, crypto.InsertURI{Type: crypto.CHK}, top); err != nil {
		t.Fatalf("store the file's top block: %v", err)
	}
	t.Logf("1 TiB: %d parts, a parts document of %.1f KiB, nested into %d blocks under the file's top block", n, float64(len(tb))/1024, put.blocks.Load())
	if b := put.blocks.Load(); b > 16 {
		t.Errorf("the parts document of 1 TiB took %d blocks", b)
	}
}
