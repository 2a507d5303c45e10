package metadata

import (
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Compression (spec §12.4). Zstandard at its fastest level compresses text at several hundred
// MB/s a core and decompresses faster still, where the standard library's DEFLATE manages about
// a hundred; at the speeds a splitfile is encoded (spec §13, docs/performance.md) DEFLATE
// would be the bottleneck of every insert and fetch of compressible content.
const (
	// MaxZstdWindow bounds the memory a stream can make a decoder hold. An encoder uses a
	// smaller window; a stream that asks for more is refused.
	MaxZstdWindow = 8 << 20
	zstdWindow    = 2 << 20

	// SampleSize is how much of the content the inserter compresses first to decide whether
	// compressing helps; it compresses the whole only if the sample shrinks to at most
	// 15/16 of its size. Content that does not compress (media, archives, age files) thus
	// costs one quick pass over its first bytes.
	SampleSize = 256 << 10
)

var sampler = sync.OnceValue(func() *zstd.Encoder {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(zstdWindow), zstd.WithEncoderCRC(false))
	if err != nil {
		panic("metadata: zstd sampler: " + err.Error())
	}
	return e
})

// Compressible reports whether compressing content that begins with sample is worth it.
func Compressible(sample []byte) bool {
	if len(sample) < 64 {
		return false // too short to tell, and too short to save a block
	}
	out := sampler().EncodeAll(sample, make([]byte, 0, len(sample)))
	return len(out) <= len(sample)/16*15
}

// NewCompressor returns a writer that compresses with codec c into w. Close flushes the end
// of the stream and does not close w.
func NewCompressor(w io.Writer, c Codec) (io.WriteCloser, error) {
	switch c {
	case CodecZstd:
		// The frame checksum is off: every block is already verified against its key.
		// Blocks of the stream are compressed in parallel, one job per core.
		e, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithWindowSize(zstdWindow),
			zstd.WithEncoderCRC(false), zstd.WithConcurrentBlocks(true))
		if err != nil {
			return nil, fmt.Errorf("metadata: zstd encoder: %w", err)
		}
		return e, nil
	}
	return nil, fmt.Errorf("metadata: no compressor for codec %v", c)
}

// NewDecompressor returns a reader of the content that r holds compressed with codec c. The
// decoder refuses windows above MaxZstdWindow, so a hostile stream cannot make it allocate
// more; how much it may output is for the caller to bound. Close releases its goroutines.
func NewDecompressor(r io.Reader, c Codec) (io.ReadCloser, error) {
	switch c {
	case CodecZstd:
		d, err := zstd.NewReader(r, zstd.WithDecoderMaxWindow(MaxZstdWindow), zstd.WithDecoderMaxMemory(MaxZstdWindow),
			zstd.WithDecoderConcurrency(2))
		if err != nil {
			return nil, fmt.Errorf("metadata: zstd decoder: %w", err)
		}
		return d.IOReadCloser(), nil
	}
	return nil, fmt.Errorf("metadata: no decompressor for codec %v", c)
}
