package index

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"sync"
)

// Every node but the root is stored compressed (spec §21.3): after its version and kind
// bytes comes its body as a raw DEFLATE stream (RFC 1951). Document entries compress about
// threefold (URIs, titles and snippets repeat their words from entry to entry), word
// leaves and postings about by half, so that a leaf holds the entries of two or three
// times as many documents and words, and a query finds more of what it needs in each block
// it fetches.
//
// A compressed body has many encodings; the decoder holds the body, not the stream, to one
// encoding. That costs nothing: a node is named by the hash of its bytes, so another
// encoding of the same body is another node with the same meaning, which its author could
// as well have made by cutting the leaves elsewhere.

// MaxPlain is the largest body a node may hold once inflated: the reader allocates no more
// for one node, whatever its stream claims.
const MaxPlain = 4 * MaxNode

// compressors are reused: a DEFLATE writer at its best compression holds about a megabyte.
var compressors = sync.Pool{New: func() any {
	w, err := flate.NewWriter(io.Discard, flate.BestCompression)
	if err != nil {
		panic("index: " + err.Error())
	}
	return w
}}

// seal makes a node from its kind and plain body: the header, then the body compressed.
func seal(kind byte, body []byte) []byte {
	out := bytes.NewBuffer(make([]byte, 0, len(body)/2+16))
	out.Write(header(kind))
	w := compressors.Get().(*flate.Writer)
	w.Reset(out)
	w.Write(body) // writes to a bytes.Buffer do not fail
	w.Close()
	compressors.Put(w)
	return out.Bytes()
}

// unseal inflates a node's body: at most MaxPlain bytes, and the stream must end where the
// node does.
func unseal(b []byte) ([]byte, error) {
	r := bytes.NewReader(b)
	fr := flate.NewReader(r) // r is an io.ByteReader: the inflater reads no byte past its stream
	defer fr.Close()
	body, err := io.ReadAll(io.LimitReader(fr, int64(MaxPlain)+1))
	if err != nil {
		return nil, fmt.Errorf("%w: body does not inflate: %v", ErrMalformed, err)
	}
	if len(body) > MaxPlain {
		return nil, fmt.Errorf("%w: body inflates past %d bytes", ErrMalformed, MaxPlain)
	}
	if r.Len() > 0 {
		return nil, fmt.Errorf("%w: %d bytes after the compressed body", ErrMalformed, r.Len())
	}
	return body, nil
}
