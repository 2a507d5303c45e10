package metadata

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
)

func TestCheckBlocks(t *testing.T) {
	// The rule of spec §13.2, pinned: 100% redundancy for large segments, more for small ones.
	for k, want := range map[int]int{1: 7, 2: 9, 8: 16, 32: 34, 48: 48, 64: 64, 128: 128, 200: 56} {
		if got := CheckBlocks(k); got != want {
			t.Errorf("CheckBlocks(%d) = %d, want %d", k, got, want)
		}
	}
	for k := 1; k <= SegmentDataBlocks; k++ {
		m := CheckBlocks(k)
		if m < k || k+m > MaxSegmentBlocks {
			t.Fatalf("CheckBlocks(%d) = %d", k, m)
		}
		if f := segmentFailure(k, m, designLoss); f > segmentFailures {
			t.Errorf("k=%d m=%d fails with probability %.2g at 30%% loss", k, m, f)
		}
	}
}

func TestSplitEvenly(t *testing.T) {
	for _, n := range []int{1, 127, 128, 129, 200, 255, 256, 257, 1000} {
		sizes := SplitEvenly(n)
		sum, lo, hi := 0, sizes[0], sizes[0]
		for _, s := range sizes {
			sum += s
			lo, hi = min(lo, s), max(hi, s)
		}
		if sum != n || hi > SegmentDataBlocks || hi-lo > 1 || (n > SegmentDataBlocks && lo < SegmentDataBlocks/2) {
			t.Errorf("SplitEvenly(%d) = %v", n, sizes)
		}
	}
}

// TestFECAnyK checks each erasure code's promise: any k of the k+m blocks rebuild the data.
func TestFECAnyK(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, code := range []Code{CodeVandermonde, CodeFFT} {
		for _, km := range [][2]int{{1, 7}, {3, 10}, {48, 48}, {128, 128}} {
			k, m := km[0], km[1]
			f, err := NewFEC(code, k, m)
			if err != nil {
				t.Fatal(err)
			}
			shards := make([][]byte, k+m)
			for i := range shards {
				shards[i] = make([]byte, 4096) // the codes work on any multiple of 64 bytes
				if i < k {
					fillRandom(rng, shards[i])
				}
			}
			if err := f.Encode(shards); err != nil {
				t.Fatal(err)
			}
			want := make([][]byte, k)
			for i := range want {
				want[i] = bytes.Clone(shards[i])
			}
			for trial := 0; trial < 3; trial++ {
				got := make([][]byte, k+m)
				for _, i := range rng.Perm(k + m)[:k] {
					got[i] = bytes.Clone(shards[i])
				}
				if err := f.Reconstruct(got); err != nil {
					t.Fatal(err)
				}
				for i := range want {
					if !bytes.Equal(got[i], want[i]) {
						t.Fatalf("%v k=%d m=%d: data block %d rebuilt wrong", code, k, m, i)
					}
				}
			}
			// One block fewer than k cannot rebuild.
			got := make([][]byte, k+m)
			for _, i := range rng.Perm(k + m)[:k-1] {
				got[i] = bytes.Clone(shards[i])
			}
			if k > 1 {
				if err := f.Reconstruct(got); err == nil {
					t.Errorf("%v k=%d m=%d rebuilt from k-1 blocks", code, k, m)
				}
			}
		}
	}
	for _, c := range []struct {
		code Code
		k, m int
	}{
		{CodeVandermonde, 200, 57}, // 257 blocks
		{CodeFFT, 200, 56},         // 200 + 64 > 256
		{CodeFFT, 130, 100},        // 130 + 128 > 256
		{Code(2), 1, 1},
	} {
		if _, err := NewFEC(c.code, c.k, c.m); err == nil {
			t.Errorf("NewFEC(%v, %d, %d) accepted", c.code, c.k, c.m)
		}
	}
}

func fillRandom(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}

func TestCompression(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	noise := make([]byte, SampleSize)
	fillRandom(rng, noise)
	if Compressible(noise) {
		t.Error("random bytes judged compressible")
	}
	text := bytes.Repeat([]byte("Lethe stores encrypted blocks; "), SampleSize/31)
	if !Compressible(text) {
		t.Error("repetitive text judged incompressible")
	}
	var buf bytes.Buffer
	w, err := NewCompressor(&buf, CodecZstd)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(text)
	w.Write(noise)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := NewDecompressor(&buf, CodecZstd)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, append(text, noise...)) {
		t.Fatal("decompressed bytes differ")
	}
	if _, err := NewCompressor(&buf, CodecNone); err == nil {
		t.Error("compressor for CodecNone")
	}
}
