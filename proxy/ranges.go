package proxy

import (
	"errors"
	"math"
	"strconv"
	"strings"

	"lethe/crypto"
	"lethe/metadata"
)

// errUnsatisfiable: a range that lies wholly outside the content (RFC 9110 §15.5.17).
var errUnsatisfiable = errors.New("range not satisfiable")

// byteRange is a part of the content: length bytes from start.
type byteRange struct {
	start, length int64
}

// parseRange reads a Range header for content of size bytes (RFC 9110 §14.2). It serves
// one range: a header that is absent, malformed, not in bytes or that asks for several
// ranges gives nil, and the whole content is sent, as the RFC allows. A single range that
// starts past the end is errUnsatisfiable.
func parseRange(h string, size int64) (*byteRange, error) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return nil, nil
	}
	spec = strings.TrimSpace(spec)
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return nil, nil
	}
	if first == "" {
		// A suffix: the last n bytes.
		n, ok := parseDigits(last)
		if !ok {
			return nil, nil
		}
		if n == 0 || size == 0 {
			return nil, errUnsatisfiable
		}
		n = min(n, size)
		return &byteRange{start: size - n, length: n}, nil
	}
	start, ok := parseDigits(first)
	if !ok {
		return nil, nil
	}
	end := int64(math.MaxInt64)
	if last != "" {
		if end, ok = parseDigits(last); !ok || end < start {
			return nil, nil
		}
	}
	if start >= size {
		return nil, errUnsatisfiable
	}
	end = min(end, size-1)
	return &byteRange{start: start, length: end - start + 1}, nil
}

// parseDigits reads a non-negative decimal number of digits only (no sign, no spaces);
// a number too large for int64 is read as the largest, which is past any content's end.
func parseDigits(s string) (int64, bool) {
	if s == "" || len(s) > 32 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return math.MaxInt64, true
	}
	return n, true
}

// tail returns a document of the content from the segment that holds offset to the end,
// and how many bytes of it come before offset, so that a range deep in a large file is
// served without fetching the segments before it (spec §20.3). Only a splitfile whose
// stream is the content itself can be cut so: compressed or age-encrypted content must be
// read from the start, and tail then returns doc and offset as they are.
func tail(doc *metadata.Document, offset int64) (*metadata.Document, int64) {
	sf := doc.Split
	if offset == 0 || doc.Kind != metadata.KindSplitfile || doc.Metadata || doc.Codec != metadata.CodecNone ||
		doc.Age || sf == nil || sf.Length != doc.Size {
		return doc, offset
	}
	var before int64 // bytes of the stream in the segments skipped
	seg := 0
	for ; seg < len(sf.Segments); seg++ {
		n := int64(sf.Segments[seg].DataBlocks) * metadata.BlockSize
		if before+n > offset {
			break
		}
		before += n
	}
	if seg == 0 || seg == len(sf.Segments) {
		return doc, offset
	}
	// The keys of the kept segments are listed, not derived: a derived key depends on the
	// segment's number in the whole file (spec §13.3), which changes when segments are cut.
	cut := &metadata.Splitfile{Length: sf.Length - before, Segments: make([]metadata.Segment, 0, len(sf.Segments)-seg)}
	for i := seg; i < len(sf.Segments); i++ {
		g := sf.Segments[i]
		keys := make([][crypto.KeySize]byte, g.Blocks())
		for b := range keys {
			keys[b] = sf.Key(i, b).Crypto
		}
		g.Crypto = keys
		cut.Segments = append(cut.Segments, g)
	}
	d := *doc
	d.Split, d.Size = cut, doc.Size-before
	return &d, offset - before
}
