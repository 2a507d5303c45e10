package tunnel

import (
	"math/rand/v2"
	"testing"
)

func TestWindow(t *testing.T) {
	var w window
	const top = 10000
	steps := []struct {
		seq  uint64
		want bool
	}{
		{top, true}, {top, false}, {top - 1, true}, {top + 1, true}, {top - 1, false},
		{top + 1 - (windowBits - 64) + 1, true}, // the oldest still inside
		{top + 1 - (windowBits - 64), false},    // just below it
		{top - windowBits, false},
		{1 << 62, true}, // a jump far ahead clears everything
		{top + 1, false},
		{1<<62 - 1, true}, {1<<62 + 64, true}, {1<<62 - 1, false}, {1<<62 + 5000, true}, {1<<62 + 64, false},
	}
	for i, s := range steps {
		if got := w.admit(s.seq); got != s.want {
			t.Errorf("step %d: admit(%d) = %v, want %v", i, s.seq, got, s.want)
		}
	}
}

// TestWindowEveryNumberOnce: numbers arriving in any order within the window are each admitted
// exactly once.
func TestWindowEveryNumberOnce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		var w window
		base := rng.Uint64() >> 1
		seqs := make([]uint64, windowBits-64)
		for i := range seqs {
			seqs[i] = base + uint64(i)
		}
		rng.Shuffle(len(seqs), func(i, j int) { seqs[i], seqs[j] = seqs[j], seqs[i] })
		for _, s := range seqs {
			if !w.admit(s) {
				t.Fatalf("%d refused the first time", s-base)
			}
		}
		for _, s := range seqs {
			if w.admit(s) {
				t.Fatalf("%d admitted twice", s-base)
			}
		}
	}
}
