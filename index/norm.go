package index

import "math/bits"

// A posting keeps a document's length in one byte, its norm (spec §21.3.4), as Lucene keeps
// its norms: lengths below normExact as they are, longer ones as a float of a 4-bit
// significand rounded down, so that a length is known within an eighth. BM25 is computed
// with the length a norm stands for, by the index and by the brute force alike: it is part
// of the ranking, not an approximation of it. One byte in place of a varint of one to five
// bytes makes a posting of a common word three bytes, not four or five.
const normExact = 16

// Norm is the one-byte form of a document length (spec §21.3.4).
func Norm(length uint32) uint8 {
	if length < normExact {
		return uint8(length)
	}
	v := length - normExact
	n := bits.Len32(v)
	if n <= 3 {
		return uint8(normExact + v)
	}
	shift := n - 4
	return uint8(normExact + (uint32(shift+1)<<3 | (v>>shift)&7))
}

// NormLength is the length a norm stands for: the smallest length of that norm.
func NormLength(norm uint8) uint32 {
	if norm < normExact {
		return uint32(norm)
	}
	e := uint32(norm - normExact)
	if e < 8 {
		return normExact + e
	}
	shift := e>>3 - 1
	return normExact + (e&7|8)<<shift
}
