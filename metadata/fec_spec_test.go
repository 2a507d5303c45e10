package metadata

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestFECMatchesSpec computes check blocks straight from the definition in spec §13.4.1 (a
// systematic Vandermonde code over GF(2^8) with polynomial 0x11D) and compares them with
// what FEC produces, so that the code the network relies on cannot change under an upgrade
// of the library unnoticed. TestFFTCodeMatchesSpec does the same for §13.4.2.
func TestFECMatchesSpec(t *testing.T) {
	gf := newGF256()
	mul, inv, pow := gf.mul, gf.inv, gf.pow
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
		const size = 64
		shards := encodedShards(t, CodeVandermonde, k, m, size)
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

// TestFFTCodeMatchesSpec computes check blocks of the FFT code straight from its definition in
// spec §13.4.2 — evaluation points named by bytes through the Cantor basis, check block j the
// sum over the chunks of M data blocks of the polynomials of degree < M that take each chunk's
// values at its points and 0 at the rest of them, evaluated at point j — and compares them
// with what FEC produces, for the inserter's segment shapes and for shapes of several chunks.
func TestFFTCodeMatchesSpec(t *testing.T) {
	gf := newGF256()
	mul, inv := gf.mul, gf.inv
	// A byte names the field element that sums the Cantor basis elements of its set bits.
	cantor := [8]byte{1, 214, 152, 146, 86, 200, 88, 230}
	var elem, byteOf [256]byte
	for b := range 256 {
		for i, c := range cantor {
			if b>>i&1 != 0 {
				elem[b] ^= c
			}
		}
		byteOf[elem[b]] = byte(b)
	}
	for _, km := range [][2]int{{1, 7}, {2, 9}, {16, 22}, {32, 34}, {48, 48}, {100, 100}, {128, 128}, {120, 8}, {192, 33}} {
		k, m := km[0], km[1]
		pm := 1
		for pm < m {
			pm <<= 1
		}
		const size = 64
		shards := encodedShards(t, CodeFFT, k, m, size)
		for j := range m {
			want := make([]byte, size)
			for i := range k {
				// Data block i sits at point M + i, in the chunk of points from base to base+M.
				base := pm + i/pm*pm
				num, den := byte(1), byte(1)
				for l := base; l < base+pm; l++ {
					if l == pm+i {
						continue
					}
					num = mul(num, elem[j]^elem[l])
					den = mul(den, elem[pm+i]^elem[l])
				}
				coef := mul(num, inv(den))
				for b := range size {
					want[b] ^= byteOf[mul(coef, elem[shards[i][b]])]
				}
			}
			if !bytes.Equal(shards[k+j], want) {
				t.Fatalf("k=%d m=%d: check block %d differs from spec §13.4.2", k, m, j)
			}
		}
	}
}

// gf256 is GF(2^8) in the polynomial basis with the polynomial 0x11D, from its definition:
// the reference the spec tests compute with.
type gf256 struct {
	exp [510]byte
	log [256]int
}

func newGF256() *gf256 {
	gf := &gf256{}
	x := 1
	for i := 0; i < 255; i++ {
		gf.exp[i], gf.exp[i+255] = byte(x), byte(x)
		gf.log[x] = i
		x <<= 1
		if x&0x100 != 0 {
			x ^= 0x11D
		}
	}
	return gf
}

func (gf *gf256) mul(a, b byte) byte {
	if a == 0 || b == 0 {
		return 0
	}
	return gf.exp[gf.log[a]+gf.log[b]]
}

func (gf *gf256) inv(a byte) byte { return gf.exp[255-gf.log[a]] }

func (gf *gf256) pow(a byte, n int) byte {
	switch {
	case n == 0:
		return 1
	case a == 0:
		return 0
	}
	return gf.exp[gf.log[a]*n%255]
}

// encodedShards is k blocks of size random bytes and the m check blocks code computes for them.
func encodedShards(t *testing.T, code Code, k, m, size int) [][]byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(k), uint64(m)))
	shards := make([][]byte, k+m)
	for i := range shards {
		shards[i] = make([]byte, size)
		if i < k {
			fillRandom(rng, shards[i])
		}
	}
	f, err := NewFEC(code, k, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Encode(shards); err != nil {
		t.Fatal(err)
	}
	return shards
}
