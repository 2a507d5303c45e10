package metadata

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestFECMatchesSpec computes check blocks straight from the definition in spec §13.4 (a
// systematic Vandermonde code over GF(2^8) with polynomial 0x11D) and compares them with
// what FEC produces, so that the code the network relies on cannot change under an upgrade
// of the library unnoticed.
func TestFECMatchesSpec(t *testing.T) {
	var exp [510]byte
	var log [256]int
	x := 1
	for i := 0; i < 255; i++ {
		exp[i], exp[i+255] = byte(x), byte(x)
		log[x] = i
		x <<= 1
		if x&0x100 != 0 {
			x ^= 0x11D
		}
	}
	mul := func(a, b byte) byte {
		if a == 0 || b == 0 {
			return 0
		}
		return exp[log[a]+log[b]]
	}
	inv := func(a byte) byte { return exp[255-log[a]] }
	pow := func(a byte, n int) byte {
		switch {
		case n == 0:
			return 1
		case a == 0:
			return 0
		}
		return exp[log[a]*n%255]
	}
	for _, km := range [][2]int{{1, 7}, {5, 3}, {17, 23}, {128, 128}} {
		k, m := km[0], km[1]
		// V[r][c] = r^c; invert the top k×k square by Gauss–Jordan elimination.
		v := make([][]byte, k+m)
		for r := range v {
			v[r] = make([]byte, k)
			for c := range v[r] {
				v[r][c] = pow(byte(r), c)
			}
		}
		a := make([][]byte, k)
		id := make([][]byte, k)
		for r := range k {
			a[r] = append([]byte(nil), v[r]...)
			id[r] = make([]byte, k)
			id[r][r] = 1
		}
		for c := range k {
			p := c
			for a[p][c] == 0 {
				p++
			}
			a[c], a[p], id[c], id[p] = a[p], a[c], id[p], id[c]
			s := inv(a[c][c])
			for j := range k {
				a[c][j], id[c][j] = mul(a[c][j], s), mul(id[c][j], s)
			}
			for r := range k {
				if r != c && a[r][c] != 0 {
					f := a[r][c]
					for j := range k {
						a[r][j] ^= mul(f, a[c][j])
						id[r][j] ^= mul(f, id[c][j])
					}
				}
			}
		}
		// Check row j of the code is V[k+j] × top⁻¹; check byte = Σ code[j][i]·data_i.
		rng := rand.New(rand.NewPCG(uint64(k), uint64(m)))
		const size = 64
		shards := make([][]byte, k+m)
		for i := range shards {
			shards[i] = make([]byte, size)
			if i < k {
				fillRandom(rng, shards[i])
			}
		}
		f, err := NewFEC(k, m)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Encode(shards); err != nil {
			t.Fatal(err)
		}
		for _, j := range []int{0, m / 2, m - 1} {
			row := make([]byte, k)
			for c := range k {
				for i := range k {
					row[c] ^= mul(v[k+j][i], id[i][c])
				}
			}
			want := make([]byte, size)
			for i := range k {
				for b := range size {
					want[b] ^= mul(row[i], shards[i][b])
				}
			}
			if !bytes.Equal(shards[k+j], want) {
				t.Fatalf("k=%d m=%d: check block %d differs from spec §13.4", k, m, j)
			}
		}
	}
}
