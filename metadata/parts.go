package metadata

import (
	"encoding/binary"
	"fmt"

	"lethe/crypto"
)

// Part is one piece of a stored stream too long for one splitfile (spec §12.2, kind 5): the
// CHK whose top block describes the piece, and its length. The piece's document is a plain
// splitfile (no flags, codec none, no MIME type), reached through nested metadata if it is
// large, or itself a plain parts document.
type Part struct {
	Length int64
	Key    crypto.CHKKey
}

// partSize is the encoded size of one Part: length, routing key, crypto key.
const partSize = 8 + 2*crypto.KeySize

// MaxParts bounds the parts of one document: as many as fit in MaxDocument.
const MaxParts = MaxDocument / partSize

// PartsLength is the length of the stream the parts make together.
func PartsLength(parts []Part) int64 {
	var n int64
	for _, p := range parts {
		n += p.Length
	}
	return n
}

// URI is the request URI of a part's top block.
func (p Part) URI() crypto.RequestURI {
	return crypto.RequestURI{Type: crypto.CHK, Key: p.Key.Routing, Crypto: p.Key.Crypto}
}

func appendParts(b []byte, parts []Part) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(parts)))
	for _, p := range parts {
		b = binary.BigEndian.AppendUint64(b, uint64(p.Length))
		b = append(b, p.Key.Routing[:]...)
		b = append(b, p.Key.Crypto[:]...)
	}
	return b
}

// checkParts: at least two parts (one part is a splitfile), each at least one byte, adding
// up to no more than MaxSize.
func checkParts(parts []Part) error {
	if len(parts) < 2 || len(parts) > MaxParts {
		return fmt.Errorf("%w: %d parts, want 2 to %d", ErrMalformed, len(parts), MaxParts)
	}
	var n int64
	for i, p := range parts {
		if p.Length < 1 || p.Length > MaxSize-n {
			return fmt.Errorf("%w: part %d of %d bytes makes the stream longer than %d", ErrMalformed, i, p.Length, int64(MaxSize))
		}
		n += p.Length
	}
	return nil
}

func (r *reader) parts() []Part {
	n := r.u32("part count")
	if r.err == nil && n > int64(len(r.b))/partSize {
		r.fail("%d parts do not fit in %d bytes", n, len(r.b))
	}
	if r.err != nil {
		return nil
	}
	parts := make([]Part, n)
	for i := range parts {
		parts[i].Length = int64(min(r.u64("part length"), MaxSize+1))
		copy(parts[i].Key.Routing[:], r.take(crypto.KeySize, "part routing key"))
		copy(parts[i].Key.Crypto[:], r.take(crypto.KeySize, "part crypto key"))
	}
	return parts
}
