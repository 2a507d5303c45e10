package crypto

import (
	"crypto/sha256"
)

func sha256Sum(b []byte) RoutingKey { return sha256.Sum256(b) }

// seedFor gives each test vector its own fixed 32 bytes.
func seedFor(name string) [KeySize]byte { return sha256.Sum256([]byte("lethe test seed " + name)) }

// fixedReader is a deterministic stand-in for crypto/rand: SHA-256 in counter mode over name.
func fixedReader(name string) *detReader { return &detReader{seed: seedFor(name)} }

type detReader struct {
	seed [32]byte
	ctr  uint64
	buf  []byte
}

func (r *detReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(r.buf) == 0 {
			var c [40]byte
			copy(c[:], r.seed[:])
			c[32] = byte(r.ctr)
			c[33] = byte(r.ctr >> 8)
			r.ctr++
			s := sha256.Sum256(c[:])
			r.buf = s[:]
		}
		k := copy(p[n:], r.buf)
		r.buf = r.buf[k:]
		n += k
	}
	return n, nil
}
