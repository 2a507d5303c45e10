package metadata

import (
	"errors"
	"testing"

	"lethe/crypto"
)

// TestPartsRefused: a parts document has at least two parts of at least a byte each, adds
// up to its size when stored plain, and is never nested metadata.
func TestPartsRefused(t *testing.T) {
	p := func(n int64) Part { return Part{Length: n, Key: crypto.CHKKey{Routing: key("r"), Crypto: key("c")}} }
	for name, d := range map[string]*Document{
		"one part":      {Kind: KindParts, Size: 5, Parts: []Part{p(5)}},
		"empty part":    {Kind: KindParts, Size: 5, Parts: []Part{p(5), p(0)}},
		"size differs":  {Kind: KindParts, Size: 6, Parts: []Part{p(2), p(3)}},
		"as metadata":   {Kind: KindParts, Metadata: true, Size: 5, Parts: []Part{p(2), p(3)}},
		"too long":      {Kind: KindParts, Codec: CodecZstd, Size: 5, Parts: []Part{p(MaxSize), p(1)}},
		"with segments": {Kind: KindParts, Size: 5, Parts: []Part{p(2), p(3)}, Split: testSplitfile(5, true)},
	} {
		if _, err := d.Encode(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: encoded (%v), want ErrMalformed", name, err)
		}
	}
	// The metadata flag on a parts document's bytes is refused by the decoder too.
	b := mustEncode(t, &Document{Kind: KindParts, Size: 5, Parts: []Part{p(2), p(3)}})
	b[2] |= flagMetadata
	if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
		t.Errorf("a parts document flagged as metadata decoded (%v)", err)
	}
	// A count that the bytes cannot hold is refused before anything is allocated.
	b = mustEncode(t, &Document{Kind: KindParts, Size: 5, Parts: []Part{p(2), p(3)}})
	b[len(b)-2*partSize-4] = 0xff
	if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
		t.Errorf("a part count past the end decoded (%v)", err)
	}
}
