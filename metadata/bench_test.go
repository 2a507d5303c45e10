package metadata

import (
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// BenchmarkFEC measures the erasure code on one segment of 128 + 128 blocks beside SHA-256 of
// the same 4 MiB of data on one core:
//
//	go test ./metadata -run '^$' -bench FEC
func BenchmarkFEC(b *testing.B) {
	const k, m = SegmentDataBlocks, SegmentDataBlocks
	rng := rand.New(rand.NewPCG(1, 1))
	shards := make([][]byte, k+m)
	for i := range shards {
		shards[i] = make([]byte, BlockSize)
		fillRandom(rng, shards[i])
	}
	b.Run("sha256-1core", func(b *testing.B) {
		b.SetBytes(k * BlockSize)
		for b.Loop() {
			for _, s := range shards[:k] {
				sha256.Sum256(s)
			}
		}
	})
	for _, code := range []Code{CodeVandermonde, CodeFFT} {
		f, err := NewFEC(code, k, m)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(code.String()+"/encode-128+128", func(b *testing.B) {
			b.SetBytes(k * BlockSize)
			for b.Loop() {
				if err := f.Encode(shards); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(code.String()+"/rebuild-30%-lost", func(b *testing.B) {
			b.SetBytes(k * BlockSize)
			work := make([][]byte, k+m)
			lost := rng.Perm(k + m)[:(k+m)*3/10]
			for b.Loop() {
				copy(work, shards)
				for _, i := range lost {
					work[i] = nil
				}
				if err := f.Reconstruct(work); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
