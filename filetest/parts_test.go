package filetest

import (
	"bytes"
	"context"
	"testing"

	"lethe/fetch"
	"lethe/insert"
	"lethe/metadata"
)

// TestPartsRoundTrip: a stored stream longer than one part is cut into parts, each its own
// splitfile under its own top block, and fetches back whole, compressed or not, at every edge
// of the part length.
func TestPartsRoundTrip(t *testing.T) {
	const part = 8 * metadata.BlockSize
	for _, tc := range []struct {
		name  string
		data  []byte
		parts int // 0: not a parts document
	}{
		{"one part exactly", randomBytes(1, part), 0},
		{"one part and a byte", randomBytes(2, part+1), 2},
		{"three parts", randomBytes(3, 3*part-100), 3},
		{"compressible, five parts", textBytes(4, 5*part*4), -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := NewStore()
			cfg := insert.Config{PartBytes: part}
			if tc.parts > 0 {
				cfg.Compression = insert.CompressNever
			}
			uri := insertBytes(t, st, tc.data, cfg)
			doc, err := fetch.New(st, fetch.Config{}).Resolve(context.Background(), uri)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.parts == 0 && doc.Kind != metadata.KindSplitfile:
				t.Errorf("content of one part is a %v document", doc.Kind)
			case tc.parts > 0 && (doc.Kind != metadata.KindParts || len(doc.Parts) != tc.parts):
				t.Errorf("a %v document of %d parts, want %d parts", doc.Kind, len(doc.Parts), tc.parts)
			case tc.parts < 0 && doc.Kind != metadata.KindParts:
				t.Errorf("a %v document, want parts", doc.Kind)
			}
			got, _, err := fetchBytes(st, uri, fetch.Config{})
			if err != nil {
				t.Fatal(err)
			}
			equalBytes(t, got, tc.data)
		})
	}
}

// TestPartsLostBlock: a part whose top block is gone fails the fetch as not found, after the
// parts before it were handed out whole.
func TestPartsLostBlock(t *testing.T) {
	const part = 8 * metadata.BlockSize
	st := NewStore()
	data := randomBytes(5, 3*part)
	uri := insertBytes(t, st, data, insert.Config{PartBytes: part, Compression: insert.CompressNever})
	doc, err := fetch.New(st, fetch.Config{}).Resolve(context.Background(), uri)
	if err != nil {
		t.Fatal(err)
	}
	st.Delete(doc.Parts[2].Key.Routing)
	var out bytes.Buffer
	_, err = fetch.New(st, fetch.Config{}).Fetch(context.Background(), uri, &out)
	if err == nil {
		t.Fatal("a fetch whose last part's top block is gone succeeded")
	}
	if !bytes.Equal(out.Bytes(), data[:2*part]) {
		t.Errorf("before failing, the fetch handed out %d bytes, want the first two parts' %d", out.Len(), 2*part)
	}
}
