package index

import (
	"math"
	"testing"
)

// TestNorm: every byte is the norm of the length it stands for, lengths below 16 are exact,
// and a longer length is rounded down by less than an eighth.
func TestNorm(t *testing.T) {
	prev := uint32(0)
	for b := range 256 {
		l := NormLength(uint8(b))
		if Norm(l) != uint8(b) {
			t.Errorf("norm %d stands for %d, whose norm is %d", b, l, Norm(l))
		}
		if b > 0 && l <= prev {
			t.Errorf("norm %d stands for %d, norm %d for %d", b, l, b-1, prev)
		}
		prev = l
	}
	for _, l := range []uint32{0, 1, 15, 16, 17, 23, 24, 25, 31, 32, 33, 100, 224, 1616, 10888, 1 << 20, math.MaxUint32 - 1, math.MaxUint32} {
		got := NormLength(Norm(l))
		switch {
		case l < normExact && got != l:
			t.Errorf("length %d comes back as %d", l, got)
		case l >= normExact && (got > l || float64(l-got) >= float64(l)/8):
			t.Errorf("length %d comes back as %d", l, got)
		}
	}
}
