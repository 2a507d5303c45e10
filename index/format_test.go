package index

import (
	"errors"
	"strings"
	"testing"
)

// TestNodesOfAnotherVersion: a root or node written by an older Lethe (version 1, nodes
// uncompressed) is refused as of another version, with a message that tells the user what to
// do, and a node whose compressed body is damaged or inflates too far is refused as malformed.
func TestNodesOfAnotherVersion(t *testing.T) {
	root := (&Root{Title: "old", Docs: 1, Words: 1}).Encode()
	leaf := seal(kindWords, wordsBody([]wordEntry{{Word: "lethe", DF: 1, Postings: []Posting{{Doc: 0, TF: 1, Norm: Norm(1)}}}}))
	if _, err := decodeNode(leaf, kindWords); err != nil {
		t.Fatalf("the leaf as written: %v", err)
	}
	old := func(b []byte) []byte { return append([]byte{1}, b[1:]...) }
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"root of version 1", old(root), ErrVersion},
		{"leaf of version 1", old(leaf), ErrVersion},
		{"leaf cut short", leaf[:len(leaf)-2], ErrMalformed},
		{"leaf with a byte after its stream", append(leaf[:len(leaf):len(leaf)], 0), ErrMalformed},
		{"leaf inflating past its bound", seal(kindWords, make([]byte, MaxPlain+1)), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeNode(tc.b, 0)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if tc.want == ErrVersion && !strings.Contains(err.Error(), "publish it again") {
				t.Errorf("%v: does not say what to do", err)
			}
		})
	}
}
