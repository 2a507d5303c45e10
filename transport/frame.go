package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"lethe/wire"
)

// Frames (spec §11.2). Inside TLS, a link carries frames of exactly two sizes. A message that
// fits a small frame travels whole in one; a larger one whole in a large frame; one larger
// than a large frame is split into parts, each in the smallest frame that holds it:
//
//	offset  size  field
//	0       1     class: 1 = small (1024 bytes), 2 = large (16384 bytes)
//	1       1     kind: 0 = whole message, 1 = first part, 2 = next part
//	2       2     payload length n
//	4       n     payload (a first part starts with the uint32 length of the whole message)
//	4+n           zeros up to the frame size
const (
	smallFrameSize = 1 << 10
	largeFrameSize = 16 << 10
	frameHeader    = 4
	partHeader     = 4 // the total length at the start of a first part

	classSmall = 1
	classLarge = 2

	kindWhole = 0
	kindFirst = 1
	kindNext  = 2

	maxSmallPayload = smallFrameSize - frameHeader
	maxLargePayload = largeFrameSize - frameHeader
)

// Every message without a block must fit a small frame, so that requests, replies, noderef
// offers and keepalives are all the same size on the wire (spec §11.2).
var _ [maxSmallPayload - wire.MaxSmallMessage]struct{}

// ErrProtocol: the peer broke the framing or message rules of spec §10–§11. The link is
// closed; a correct node never causes it.
var ErrProtocol = errors.New("peer broke the link protocol")

func protocolError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

// frameSize is the size of the smallest frame that holds a payload of n bytes.
func frameSize(n int) int {
	if n <= maxSmallPayload {
		return smallFrameSize
	}
	return largeFrameSize
}

// appendFrame appends one frame holding payload (at most maxLargePayload bytes, the first
// prefix bytes of which are written by the caller after the header).
func appendFrame(dst []byte, kind byte, payload ...[]byte) []byte {
	n := 0
	for _, p := range payload {
		n += len(p)
	}
	size := frameSize(n)
	class := byte(classSmall)
	if size == largeFrameSize {
		class = classLarge
	}
	dst = append(dst, class, kind, byte(n>>8), byte(n))
	for _, p := range payload {
		dst = append(dst, p...)
	}
	pad := size - frameHeader - n
	dst = slices.Grow(dst, pad)
	tail := dst[len(dst) : len(dst)+pad]
	clear(tail)
	return dst[:len(dst)+pad]
}

// bigBuffers recycles the encodings of block-carrying messages, which are 10 to 33 KB each,
// and the buffers received ones are reassembled in: at link speed, allocating one per message
// keeps the garbage collector busy.
var bigBuffers = sync.Pool{New: func() any { return new([wire.MaxMessageSize]byte) }}

// encodeMessage encodes m, in a recycled buffer if it is large enough to be worth it: the
// messages that carry a block, and tunnel cells of a block cell's size (every one of a
// tunnel's hops sends each again, re-encrypted, so they are most of a tunnel's bytes).
func encodeMessage(m wire.Message) ([]byte, error) {
	switch m := m.(type) {
	case *wire.DataReply, *wire.Insert, *wire.InsertCollision:
		return encodeBig(m)
	case *wire.TunnelCell:
		if len(m.Body) == wire.TunnelBlockCellBody {
			return encodeBig(m)
		}
	}
	return wire.Encode(m)
}

// encodeBig encodes m into a buffer from bigBuffers, which recycle gives back.
func encodeBig(m wire.Message) ([]byte, error) {
	buf := bigBuffers.Get().(*[wire.MaxMessageSize]byte)
	b, err := wire.Append(buf[:0], m)
	if err != nil {
		bigBuffers.Put(buf)
	}
	return b, err
}

// recycle returns the buffer of an encoding made by encodeMessage once it is sent.
func recycle(b []byte) {
	if cap(b) == wire.MaxMessageSize {
		bigBuffers.Put((*[wire.MaxMessageSize]byte)(b[:wire.MaxMessageSize]))
	}
}

// outMessage is an encoded message being sent, possibly in several frames.
type outMessage struct {
	b   []byte
	off int // bytes of b already framed
}

// nextFrame appends the next frame of m and reports whether m is now fully framed.
func (m *outMessage) nextFrame(dst []byte) ([]byte, bool) {
	if m.off == 0 && len(m.b) <= maxLargePayload {
		m.off = len(m.b)
		return appendFrame(dst, kindWhole, m.b), true
	}
	if m.off == 0 {
		var total [partHeader]byte
		binary.BigEndian.PutUint32(total[:], uint32(len(m.b)))
		m.off = maxLargePayload - partHeader
		return appendFrame(dst, kindFirst, total[:], m.b[:m.off]), false
	}
	end := min(m.off+maxLargePayload, len(m.b))
	dst = appendFrame(dst, kindNext, m.b[m.off:end])
	m.off = end
	return dst, end == len(m.b)
}

// sendQueue orders a link's outgoing frames (spec §11.3): messages that fit a small frame go
// first, in the order they were queued; block-carrying messages follow one frame at a time,
// so a small message queued behind a 32 KiB reply waits for at most one large frame. Each
// class keeps its own order; a small message may overtake a large one queued before it.
// It is not safe for concurrent use.
type sendQueue struct {
	small      []*outMessage
	large      []*outMessage
	bytes      int // encoded bytes of queued messages not yet fully framed
	smallBytes int // of them, the small messages'
}

// fits reports whether a message of n encoded bytes may join the queue under the link's bound
// of max bytes. Large messages share the bound; small ones (requests, Accepted, the answers
// without data) have a quarter of it on top, their own, so that they are never held back
// by blocks waiting for a slow link: a request or its Accepted that waited for room behind a
// queue of replies would time out at the peer (AcceptTimeout) and back the link off, though
// the link carries all it can. A message always fits an empty queue, whatever its size.
func (q *sendQueue) fits(n, max int) bool {
	if n <= maxSmallPayload {
		return q.smallBytes == 0 || q.smallBytes+n <= max/4
	}
	large := q.bytes - q.smallBytes
	return large == 0 || large+n <= max
}

func (q *sendQueue) push(b []byte) {
	m := &outMessage{b: b}
	if len(b) <= maxSmallPayload {
		q.small = append(q.small, m)
		q.smallBytes += len(b)
	} else {
		q.large = append(q.large, m)
	}
	q.bytes += len(b)
}

func (q *sendQueue) empty() bool { return len(q.small) == 0 && len(q.large) == 0 }

// next appends frames of the given classes (laneSmall, laneLarge) to dst until it holds at
// least limit bytes or the queue has none left, taking at most one large frame between small
// messages.
func (q *sendQueue) next(dst []byte, limit int, classes int) []byte {
	for len(dst) < limit {
		switch {
		case len(q.small) > 0 && classes&laneSmall != 0:
			m := q.small[0]
			q.small[0] = nil
			q.small = q.small[1:]
			dst, _ = m.nextFrame(dst)
			q.bytes -= len(m.b)
			q.smallBytes -= len(m.b)
		case len(q.large) > 0 && classes&laneLarge != 0:
			m := q.large[0]
			var done bool
			dst, done = m.nextFrame(dst)
			if done {
				q.large[0] = nil
				q.large = q.large[1:]
				q.bytes -= len(m.b)
				recycle(m.b)
			}
		default:
			return dst
		}
	}
	return dst
}

// frameReader reads frames from a link and reassembles messages, checking every size before
// it reads or allocates: a frame is one of the two sizes, a payload fits its frame and uses
// the smallest one, a split message declares a total within wire.MaxMessageSize, and padding
// is zero. At most one split message is in progress per link, so a peer can make it buffer
// at most one frame and one message.
type frameReader struct {
	r       io.Reader
	frame   [largeFrameSize]byte
	part    []byte                     // the split message being reassembled; nil between messages
	partBuf *[wire.MaxMessageSize]byte // the buffer of bigBuffers part is in
	total   int                        // its declared length
	bytes   uint64                     // frame bytes read so far
}

func newFrameReader(r io.Reader) *frameReader { return &frameReader{r: r} }

// next returns the next complete message. A whole message aliases the reader's frame buffer
// and is valid until the following call (buf is nil); a reassembled one is in buf, a buffer
// of bigBuffers that now belongs to the caller, which may give it back with
// bigBuffers.Put once nothing refers to the message (msg's capacity ends with it, so what
// aliases msg cannot reach a later message's bytes).
func (fr *frameReader) next() (msg []byte, buf *[wire.MaxMessageSize]byte, err error) {
	for {
		kind, n, size, err := fr.readHeader()
		if err != nil {
			return nil, nil, err
		}
		switch kind {
		case kindWhole: // also between the parts of a split message
			if n == 0 {
				return nil, nil, protocolError("empty message")
			}
			payload := fr.frame[frameHeader : frameHeader+n]
			if err := fr.readBody(payload, size-frameHeader-n); err != nil {
				return nil, nil, err
			}
			return payload, nil, nil
		case kindFirst:
			if fr.part != nil {
				return nil, nil, protocolError("a split message started inside another")
			}
			if n != maxLargePayload {
				return nil, nil, protocolError("first part of %d bytes, want a full frame", n)
			}
			h := fr.frame[frameHeader : frameHeader+partHeader]
			if _, err := io.ReadFull(fr.r, h); err != nil {
				return nil, nil, noEOF(err)
			}
			total := int(binary.BigEndian.Uint32(h))
			if total <= maxLargePayload || total > wire.MaxMessageSize {
				return nil, nil, protocolError("split message of %d bytes, want %d to %d", total, maxLargePayload+1, wire.MaxMessageSize)
			}
			fr.partBuf = bigBuffers.Get().(*[wire.MaxMessageSize]byte)
			fr.part = fr.partBuf[: maxLargePayload-partHeader : total]
			fr.total = total
			if err := fr.readBody(fr.part, 0); err != nil {
				return nil, nil, err
			}
		case kindNext:
			if fr.part == nil {
				return nil, nil, protocolError("a next part without a first")
			}
			have := len(fr.part)
			left := fr.total - have
			if n > left || n < min(left, maxLargePayload) {
				return nil, nil, protocolError("part of %d bytes with %d left", n, left)
			}
			fr.part = fr.part[:have+n]
			if err := fr.readBody(fr.part[have:], size-frameHeader-n); err != nil {
				return nil, nil, err
			}
			if len(fr.part) == fr.total {
				msg, buf := fr.part, fr.partBuf
				fr.part, fr.partBuf = nil, nil
				return msg, buf, nil
			}
		default:
			return nil, nil, protocolError("frame kind %d", kind)
		}
	}
}

// readHeader reads a frame header and checks the class and payload length.
func (fr *frameReader) readHeader() (kind byte, n, size int, err error) {
	h := fr.frame[:frameHeader]
	if _, err := io.ReadFull(fr.r, h); err != nil {
		return 0, 0, 0, err
	}
	switch h[0] {
	case classSmall:
		size = smallFrameSize
	case classLarge:
		size = largeFrameSize
	default:
		return 0, 0, 0, protocolError("frame class %d", h[0])
	}
	n = int(binary.BigEndian.Uint16(h[2:]))
	if n > size-frameHeader || frameSize(n) != size {
		return 0, 0, 0, protocolError("payload of %d bytes in a frame of %d", n, size)
	}
	fr.bytes += uint64(size)
	return h[1], n, size, nil
}

// readBody reads a frame's payload into dst and its padding, which must be zero.
func (fr *frameReader) readBody(dst []byte, pad int) error {
	if _, err := io.ReadFull(fr.r, dst); err != nil {
		return noEOF(err)
	}
	p := fr.frame[largeFrameSize-pad:]
	if _, err := io.ReadFull(fr.r, p); err != nil {
		return noEOF(err)
	}
	for _, c := range p {
		if c != 0 {
			return protocolError("non-zero padding")
		}
	}
	return nil
}

// noEOF turns an end of stream inside a frame into the error it is.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
