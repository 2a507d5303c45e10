package metadata

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"

	"github.com/klauspost/reedsolomon"

	"lethe/crypto"
)

// Splitfile format (spec §13).
const (
	// BlockSize is the payload of every data block but the stream's last, and of every check
	// block.
	BlockSize = crypto.CHKDataSize
	// MaxSegmentBlocks is the most blocks (data + check) one segment can have: the
	// Reed–Solomon code works over GF(2^8).
	MaxSegmentBlocks = 256

	keysDerived  = 1
	keysExplicit = 2
)

// Code names the erasure code a splitfile's segments use (spec §13.4). It is carried in the
// high four bits of the descriptor's first byte, the key mode in the low four.
type Code uint8

const (
	// CodeVandermonde is the systematic Vandermonde Reed–Solomon code (spec §13.4.1): the
	// code of splitfiles inserted before the FFT code, still read.
	CodeVandermonde Code = 0
	// CodeFFT is the Reed–Solomon code over the additive FFT's evaluation points (spec
	// §13.4.2, Leopard's code): the same protection, about ten times faster to compute for
	// 128 + 128 blocks. Lethe's inserter uses it.
	CodeFFT Code = 1
)

func (c Code) String() string {
	switch c {
	case CodeVandermonde:
		return "vandermonde"
	case CodeFFT:
		return "fft"
	}
	return fmt.Sprintf("Code(%d)", uint8(c))
}

// fits reports whether a segment of k data and m check blocks can use the code: any with
// k + m ≤ 256 for the Vandermonde code, and k + M ≤ 256 for the FFT code, where M is the
// smallest power of two at least m.
func (c Code) fits(k, m int) bool {
	if k < 1 || m < 1 || k+m > MaxSegmentBlocks {
		return false
	}
	switch c {
	case CodeVandermonde:
		return true
	case CodeFFT:
		pm := 1
		for pm < m {
			pm <<= 1
		}
		return k+pm <= MaxSegmentBlocks
	}
	return false
}

// Splitfile lists the CHK blocks a stream was split into. The stream is cut into data blocks
// of BlockSize bytes (the last one shorter), which are grouped in order into segments; each
// segment adds check blocks computed with the Reed–Solomon code of FEC, so that any
// DataBlocks of a segment's DataBlocks+CheckBlocks blocks rebuild it.
type Splitfile struct {
	Length   int64 // bytes of the stream, at least 1
	Code     Code  // the erasure code of every segment
	Derived  bool  // the blocks' crypto keys derive from Secret (spec §13.3); else listed
	Secret   [crypto.KeySize]byte
	Segments []Segment
}

// Segment is one group of data blocks with their check blocks.
type Segment struct {
	DataBlocks  int
	CheckBlocks int
	Routing     []crypto.RoutingKey    // data blocks, then check blocks
	Crypto      [][crypto.KeySize]byte // listed (not derived) keys only, in the same order
}

// Blocks is DataBlocks + CheckBlocks.
func (s *Segment) Blocks() int { return s.DataBlocks + s.CheckBlocks }

// Key returns the key of block i (data blocks first) of segment seg.
func (s *Splitfile) Key(seg, i int) crypto.CHKKey {
	g := &s.Segments[seg]
	k := crypto.CHKKey{Routing: g.Routing[i]}
	if s.Derived {
		k.Crypto = crypto.SplitfileBlockKey(s.Secret, uint32(seg), uint16(i))
	} else {
		k.Crypto = g.Crypto[i]
	}
	return k
}

// DataBlockCount is the number of data blocks a stream of length bytes is cut into.
func DataBlockCount(length int64) int64 { return (length + BlockSize - 1) / BlockSize }

// BlockCounts returns the number of data blocks and of all blocks.
func (s *Splitfile) BlockCounts() (data, total int) {
	for i := range s.Segments {
		data += s.Segments[i].DataBlocks
		total += s.Segments[i].Blocks()
	}
	return data, total
}

// SegmentLength returns the bytes of the stream that segment seg holds.
func (s *Splitfile) SegmentLength(seg int) int64 {
	var before int64
	for i := 0; i < seg; i++ {
		before += int64(s.Segments[i].DataBlocks)
	}
	start := before * BlockSize
	return min(s.Length-start, int64(s.Segments[seg].DataBlocks)*BlockSize)
}

func (s *Splitfile) check() error {
	if s.Length < 1 || s.Length > MaxSize {
		return fmt.Errorf("%w: splitfile length %d out of range", ErrMalformed, s.Length)
	}
	if !s.Derived && s.Secret != ([crypto.KeySize]byte{}) {
		return fmt.Errorf("%w: a secret beside listed keys", ErrMalformed)
	}
	if len(s.Segments) == 0 {
		return fmt.Errorf("%w: splitfile without segments", ErrMalformed)
	}
	var n int64
	for i := range s.Segments {
		g := &s.Segments[i]
		if !s.Code.fits(g.DataBlocks, g.CheckBlocks) {
			return fmt.Errorf("%w: segment %d has %d data and %d check blocks, which the %v code cannot take", ErrMalformed, i, g.DataBlocks, g.CheckBlocks, s.Code)
		}
		if len(g.Routing) != g.Blocks() {
			return fmt.Errorf("%w: segment %d lists %d routing keys for %d blocks", ErrMalformed, i, len(g.Routing), g.Blocks())
		}
		if s.Derived != (g.Crypto == nil) || (!s.Derived && len(g.Crypto) != g.Blocks()) {
			return fmt.Errorf("%w: segment %d crypto keys do not match the key mode", ErrMalformed, i)
		}
		n += int64(g.DataBlocks)
	}
	if n != DataBlockCount(s.Length) {
		return fmt.Errorf("%w: segments hold %d data blocks, a stream of %d bytes needs %d", ErrMalformed, n, s.Length, DataBlockCount(s.Length))
	}
	return nil
}

func (s *Splitfile) appendTo(b []byte) []byte {
	code := byte(s.Code) << 4
	if s.Derived {
		b = append(b, code|keysDerived)
		b = append(b, s.Secret[:]...)
	} else {
		b = append(b, code|keysExplicit)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(s.Length))
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.Segments)))
	for _, g := range s.Segments {
		b = append(b, byte(g.DataBlocks), byte(g.CheckBlocks))
		for i, rk := range g.Routing {
			b = append(b, rk[:]...)
			if !s.Derived {
				b = append(b, g.Crypto[i][:]...)
			}
		}
	}
	return b
}

func (r *reader) splitfile() *Splitfile {
	s := &Splitfile{}
	mode := r.u8("key mode")
	s.Code = Code(mode >> 4)
	if s.Code != CodeVandermonde && s.Code != CodeFFT {
		r.fail("unknown erasure code %d", s.Code)
	}
	switch mode & 0x0f {
	case keysDerived:
		s.Derived = true
		copy(s.Secret[:], r.take(crypto.KeySize, "secret"))
	case keysExplicit:
	default:
		r.fail("unknown key mode")
	}
	length := r.u64("stream length")
	if r.err == nil && (length < 1 || length > MaxSize) {
		r.fail("stream length %d out of range", length)
	}
	s.Length = int64(min(length, math.MaxInt64))
	n := r.u32("segment count")
	keySize := crypto.KeySize
	if !s.Derived {
		keySize *= 2
	}
	// A segment takes at least 2 + 2 keys' bytes: bound the count before allocating.
	if r.err == nil && n > int64(len(r.b))/int64(2+2*keySize) {
		r.fail("%d segments do not fit in %d bytes", n, len(r.b))
	}
	if r.err != nil {
		return nil
	}
	s.Segments = make([]Segment, n)
	for i := range s.Segments {
		g := &s.Segments[i]
		g.DataBlocks, g.CheckBlocks = int(r.u8("data blocks")), int(r.u8("check blocks"))
		if r.err == nil && !s.Code.fits(g.DataBlocks, g.CheckBlocks) {
			r.fail("segment %d has %d data and %d check blocks, which the %v code cannot take", i, g.DataBlocks, g.CheckBlocks, s.Code)
		}
		keys := r.take(g.Blocks()*keySize, "block keys")
		if r.err != nil {
			return nil
		}
		g.Routing = make([]crypto.RoutingKey, g.Blocks())
		if !s.Derived {
			g.Crypto = make([][crypto.KeySize]byte, g.Blocks())
		}
		for j := range g.Routing {
			copy(g.Routing[j][:], keys[j*keySize:])
			if !s.Derived {
				copy(g.Crypto[j][:], keys[j*keySize+crypto.KeySize:])
			}
		}
	}
	return s
}

// Segment layout rules of the inserter (spec §13.2). A fetcher does not need them: the
// metadata lists each segment's counts.
const (
	// SegmentDataBlocks is the most data blocks an inserter puts in one segment.
	SegmentDataBlocks = 128
	// designLoss is the share of blocks lost at random that a segment is sized to survive,
	// and segmentSurvival how surely it must.
	designLoss      = 0.3
	segmentFailures = 1e-4
)

// CheckBlocks returns how many check blocks an inserter adds to a segment of k data blocks:
// k (100% redundancy), raised for small segments until the segment survives the random loss
// of 30% of its blocks with probability at least 1 − 10⁻⁴, and at most 256 − k.
func CheckBlocks(k int) int {
	m := k
	for k+m < MaxSegmentBlocks && segmentFailure(k, m, designLoss) > segmentFailures {
		m++
	}
	return min(m, MaxSegmentBlocks-k)
}

// segmentFailure is the chance that more than m of a segment's k+m blocks are lost when each
// is lost independently with probability p: the binomial tail, summed in log space.
func segmentFailure(k, m int, p float64) float64 {
	n := k + m
	var sum float64
	for j := m + 1; j <= n; j++ {
		lg := lchoose(n, j) + float64(j)*math.Log(p) + float64(n-j)*math.Log1p(-p)
		sum += math.Exp(lg)
	}
	return sum
}

func lchoose(n, k int) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}

// SplitEvenly cuts the last blocks of a stream into segments of at most SegmentDataBlocks
// that differ in size by at most one block, so that no segment is left small and weak.
func SplitEvenly(blocks int) []int {
	if blocks <= 0 {
		return nil
	}
	n := (blocks + SegmentDataBlocks - 1) / SegmentDataBlocks
	sizes := make([]int, n)
	for i := range sizes {
		sizes[i] = blocks / n
		if i < blocks%n {
			sizes[i]++
		}
	}
	return sizes
}

// FEC is the erasure code of segments with a given number of data and check blocks: one of
// the systematic Reed–Solomon codes over GF(2^8) of spec §13.4.
type FEC struct {
	k, m int
	enc  reedsolomon.Encoder
}

type fecKey struct {
	code Code
	k, m int
}

var fecs sync.Map // fecKey → *FEC

// NewFEC returns the code for k data and m check blocks. Codes are cached: building a
// Vandermonde code inverts a k×k matrix.
func NewFEC(code Code, k, m int) (*FEC, error) {
	if !code.fits(k, m) {
		return nil, fmt.Errorf("metadata: no %v erasure code for %d data and %d check blocks", code, k, m)
	}
	key := fecKey{code, k, m}
	if f, ok := fecs.Load(key); ok {
		return f.(*FEC), nil
	}
	// The inversion cache is off: it keeps one matrix per pattern of missing blocks ever
	// seen, which a long-running node would grow without bound. One goroutine per call: the
	// inserter and the fetcher run one segment per core already, and splitting a 32 KiB
	// block between goroutines costs more than it gains (docs/performance.md).
	opts := []reedsolomon.Option{reedsolomon.WithInversionCache(false), reedsolomon.WithMaxGoroutines(1)}
	if code == CodeFFT {
		// Leopard's GF(2^8) code, which spec §13.4.2 defines (TestFECMatchesSpec).
		opts = append(opts, reedsolomon.WithLeopardGF(true))
	}
	enc, err := reedsolomon.New(k, m, opts...)
	if err != nil {
		return nil, fmt.Errorf("metadata: %v erasure code %d+%d: %w", code, k, m, err)
	}
	f, _ := fecs.LoadOrStore(key, &FEC{k: k, m: m, enc: enc})
	return f.(*FEC), nil
}

// Encode computes the check blocks: shards holds k data blocks then m check blocks, all of
// BlockSize bytes (a multiple of 64 bytes for the FFT code); the check blocks are overwritten.
func (f *FEC) Encode(shards [][]byte) error {
	return f.enc.Encode(shards)
}

// Reconstruct fills in the missing (nil) data blocks of shards from any k present ones. The
// check blocks that are missing stay nil.
func (f *FEC) Reconstruct(shards [][]byte) error {
	return f.enc.ReconstructData(shards)
}
