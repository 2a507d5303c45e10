package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"lethe/crypto"
)

// ErrMalformed: bytes that are not a message of spec §10, or a message value that cannot be
// encoded. A peer that sends one is broken or hostile; the transport drops its link.
var ErrMalformed = errors.New("malformed message")

// Encode returns the encoding of m (spec §10.2).
func Encode(m Message) ([]byte, error) { return Append(nil, m) }

// Append appends the encoding of m to dst. It checks every field against the limits the
// decoder enforces, so a message that encodes also decodes.
func Append(dst []byte, m Message) ([]byte, error) {
	if m == nil {
		return dst, fmt.Errorf("%w: nil message", ErrMalformed)
	}
	t := m.Type()
	if decoders[t] == nil {
		return dst, fmt.Errorf("%w: %T has no message type (key type not CHK or SSK?)", ErrMalformed, m)
	}
	e := encoder{b: append(dst, byte(t))}
	m.encode(&e)
	if e.err != nil {
		return dst, fmt.Errorf("%w: encode %v: %v", ErrMalformed, t, e.err)
	}
	return e.b, nil
}

// Decode parses one message. It checks every length against its limit before allocating,
// refuses trailing bytes and values outside their ranges, so that each message has exactly
// one encoding. The message does not alias b.
func Decode(b []byte) (Message, error) { return decode(b, false) }

// DecodeShared is Decode for a caller that hands b over: the blocks of the message alias b
// instead of being copied, so b must not be changed afterwards. The transport uses it to
// pass a 32 KiB reply from the socket to the handler with no copy beyond TLS's own.
func DecodeShared(b []byte) (Message, error) { return decode(b, true) }

func decode(b []byte, shared bool) (Message, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrMalformed)
	}
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformed, len(b), MaxMessageSize)
	}
	t := Type(b[0])
	dec := decoders[t]
	if dec == nil {
		return nil, fmt.Errorf("%w: unknown type %#02x", ErrMalformed, b[0])
	}
	d := decoder{b: b[1:], shared: shared}
	m := dec(&d)
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d bytes after the message", len(d.b))
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %v: %v", ErrMalformed, t, d.err)
	}
	return m, nil
}

var decoders = [256]func(d *decoder) Message{
	TypeHello: func(d *decoder) Message {
		m := &Hello{MinVersion: d.u8(), MaxVersion: d.u8()}
		m.Ref = d.ref()
		if d.err == nil && (m.MinVersion == 0 || m.MinVersion > m.MaxVersion) {
			d.fail("versions %d to %d", m.MinVersion, m.MaxVersion)
		}
		return m
	},
	TypeKeepalive:         func(d *decoder) Message { return &Keepalive{} },
	TypeObservedAddress:   func(d *decoder) Message { return &ObservedAddress{Addr: d.addr()} },
	TypeNodeRefUpdate:     func(d *decoder) Message { return &NodeRefUpdate{Ref: d.ref()} },
	TypePunchRequest:      func(d *decoder) Message { return &PunchRequest{Peer: d.bytes32()} },
	TypePunchIntro:        func(d *decoder) Message { return &PunchIntro{Peer: d.bytes32(), Addr: d.addr()} },
	TypeCHKRequest:        func(d *decoder) Message { return d.request(crypto.CHK) },
	TypeSSKRequest:        func(d *decoder) Message { return d.request(crypto.SSK) },
	TypeCHKInsert:         func(d *decoder) Message { return d.insert(crypto.CHK) },
	TypeSSKInsert:         func(d *decoder) Message { return d.insert(crypto.SSK) },
	TypeCHKDataReply:      func(d *decoder) Message { return d.dataReply(crypto.CHK) },
	TypeSSKDataReply:      func(d *decoder) Message { return d.dataReply(crypto.SSK) },
	TypeAccepted:          func(d *decoder) Message { return &Accepted{ID: d.u64()} },
	TypeInsertReply:       func(d *decoder) Message { return &InsertReply{ID: d.u64()} },
	TypeDataNotFound:      func(d *decoder) Message { return &DataNotFound{ID: d.u64()} },
	TypeRejectedLoop:      func(d *decoder) Message { return &RejectedLoop{ID: d.u64()} },
	TypeRejectedOverload:  func(d *decoder) Message { return &RejectedOverload{ID: d.u64()} },
	TypeRouteNotFound:     func(d *decoder) Message { return &RouteNotFound{ID: d.u64(), HTL: d.htl()} },
	TypeNodeRefOffer:      func(d *decoder) Message { return &NodeRefOffer{ID: d.u64(), Ref: d.ref()} },
	TypeAnnouncementReply: func(d *decoder) Message { return &AnnouncementReply{ID: d.u64(), Ref: d.ref()} },
	TypeInsertCollision: func(d *decoder) Message {
		return &InsertCollision{ID: d.u64(), Block: d.block(crypto.SSK)}
	},
	TypeAnnouncement: func(d *decoder) Message {
		return &Announcement{ID: d.u64(), HTL: d.htl(), Target: d.location(), Ref: d.ref()}
	},
	TypeSwapRequest: func(d *decoder) Message {
		return &SwapRequest{ID: d.u64(), HTL: d.htl(), Commitment: d.bytes32()}
	},
	TypeSwapReply: func(d *decoder) Message {
		return &SwapReply{ID: d.u64(), Random: d.bytes32(), Location: d.location(), PeerLocations: d.locations()}
	},
	TypeSwapCommit: func(d *decoder) Message {
		return &SwapCommit{ID: d.u64(), Random: d.bytes32(), Location: d.location(), PeerLocations: d.locations()}
	},
	TypeLocationUpdate: func(d *decoder) Message {
		return &LocationUpdate{Location: d.location(), PeerLocations: d.locations()}
	},
	TypeOfferKey: func(d *decoder) Message {
		m := &OfferKey{KeyType: crypto.KeyType(d.u8()), Key: d.bytes32()}
		if d.err == nil && m.KeyType != crypto.CHK && m.KeyType != crypto.SSK {
			d.fail("key type %d", m.KeyType)
		}
		return m
	},
}

func (m *Hello) encode(e *encoder) {
	if m.MinVersion == 0 || m.MinVersion > m.MaxVersion {
		e.fail("versions %d to %d", m.MinVersion, m.MaxVersion)
	}
	e.u8(m.MinVersion)
	e.u8(m.MaxVersion)
	e.ref(m.Ref)
}

func (m *Keepalive) encode(e *encoder) {}

func (m *Request) encode(e *encoder) {
	e.u64(m.ID)
	e.htl(m.HTL)
	e.flags(m.Tail)
	e.stem(m.HTL, m.Stem)
	e.key(m.Key)
	e.timeout(m.Timeout)
}

func (m *Insert) encode(e *encoder) {
	e.u64(m.ID)
	e.htl(m.HTL)
	e.flags(m.Tail)
	e.stem(m.HTL, m.Stem)
	e.key(m.Key)
	e.timeout(m.Timeout)
	e.block(m.KeyType, m.Block)
}

func (m *DataReply) encode(e *encoder) {
	e.u64(m.ID)
	e.block(m.KeyType, m.Block)
}

func (m *Accepted) encode(e *encoder)         { e.u64(m.ID) }
func (m *InsertReply) encode(e *encoder)      { e.u64(m.ID) }
func (m *DataNotFound) encode(e *encoder)     { e.u64(m.ID) }
func (m *RejectedLoop) encode(e *encoder)     { e.u64(m.ID) }
func (m *RejectedOverload) encode(e *encoder) { e.u64(m.ID) }

func (m *InsertCollision) encode(e *encoder) {
	e.u64(m.ID)
	e.block(crypto.SSK, m.Block)
}

func (m *RouteNotFound) encode(e *encoder) {
	e.u64(m.ID)
	e.htl(m.HTL)
}

func (m *NodeRefOffer) encode(e *encoder) {
	e.u64(m.ID)
	e.ref(m.Ref)
}

func (m *Announcement) encode(e *encoder) {
	e.u64(m.ID)
	e.htl(m.HTL)
	e.location(m.Target)
	e.ref(m.Ref)
}

func (m *AnnouncementReply) encode(e *encoder) {
	e.u64(m.ID)
	e.ref(m.Ref)
}

func (m *SwapRequest) encode(e *encoder) {
	e.u64(m.ID)
	e.htl(m.HTL)
	e.b = append(e.b, m.Commitment[:]...)
}

func (m *SwapReply) encode(e *encoder) { e.swap(m.ID, m.Random, m.Location, m.PeerLocations) }

func (m *SwapCommit) encode(e *encoder) { e.swap(m.ID, m.Random, m.Location, m.PeerLocations) }

func (m *LocationUpdate) encode(e *encoder) {
	e.location(m.Location)
	e.locations(m.PeerLocations)
}

func (m *OfferKey) encode(e *encoder) {
	if m.KeyType != crypto.CHK && m.KeyType != crypto.SSK {
		e.fail("key type %v", m.KeyType)
	}
	e.u8(uint8(m.KeyType))
	e.key(m.Key)
}

// encoder appends fields; the first invalid value sticks as err.
type encoder struct {
	b   []byte
	err error
}

func (e *encoder) fail(format string, args ...any) {
	if e.err == nil {
		e.err = fmt.Errorf(format, args...)
	}
}

func (e *encoder) u8(v uint8)              { e.b = append(e.b, v) }
func (e *encoder) u64(v uint64)            { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *encoder) key(k crypto.RoutingKey) { e.b = append(e.b, k[:]...) }

func (e *encoder) htl(v uint8) {
	if v > MaxHTL {
		e.fail("HTL %d above %d", v, MaxHTL)
	}
	e.u8(v)
}

// timeout is whole milliseconds, truncated; it must be at least 1 ms and at most MaxTimeout.
func (e *encoder) timeout(d time.Duration) {
	ms := d / time.Millisecond
	if ms < 1 || d > MaxTimeout {
		e.fail("timeout %v outside 1ms..%v", d, MaxTimeout)
	}
	e.b = binary.BigEndian.AppendUint32(e.b, uint32(ms))
}

func (e *encoder) block(k crypto.KeyType, b []byte) {
	if want := k.BlockSize(); want == 0 || len(b) != want {
		e.fail("%v block of %d bytes, want %d", k, len(b), want)
	}
	e.b = append(e.b, b...)
}

func (e *encoder) location(l crypto.Location) {
	if !validLocation(l) {
		e.fail("location %v not in [0,1)", float64(l))
	}
	e.u64(math.Float64bits(float64(l)))
}

func (e *encoder) locations(ls []crypto.Location) {
	if len(ls) > MaxPeerLocations {
		e.fail("%d peer locations, at most %d", len(ls), MaxPeerLocations)
	}
	e.u8(uint8(len(ls)))
	for _, l := range ls {
		e.location(l)
	}
}

func (e *encoder) ref(r *NodeRef) {
	if r == nil {
		e.fail("no noderef")
		return
	}
	e.b = binary.BigEndian.AppendUint16(e.b, uint16(len(r.text)))
	e.b = append(e.b, r.text...)
}

func (e *encoder) swap(id uint64, random [32]byte, l crypto.Location, peers []crypto.Location) {
	e.u64(id)
	e.b = append(e.b, random[:]...)
	e.location(l)
	e.locations(peers)
}

// decoder consumes fields; the first error sticks and every later field reads as zero.
type decoder struct {
	b      []byte
	err    error
	shared bool // blocks alias b rather than being copied
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

// take consumes n bytes, or fails without allocating if fewer remain.
func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.fail("truncated: %d bytes left, want %d", len(d.b), n)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() uint8 {
	if v := d.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if v := d.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (d *decoder) bytes32() (k [32]byte) {
	copy(k[:], d.take(32))
	return k
}

func (d *decoder) htl() uint8 {
	v := d.u8()
	if v > MaxHTL {
		d.fail("HTL %d above %d", v, MaxHTL)
	}
	return v
}

func (d *decoder) timeout() time.Duration {
	v := d.take(4)
	if v == nil {
		return 0
	}
	t := time.Duration(binary.BigEndian.Uint32(v)) * time.Millisecond
	if t < time.Millisecond || t > MaxTimeout {
		d.fail("timeout %v outside 1ms..%v", t, MaxTimeout)
	}
	return t
}

// block reads a block of the exact size of its key family, copied unless shared.
func (d *decoder) block(k crypto.KeyType) []byte {
	v := d.take(k.BlockSize())
	if v == nil || d.shared {
		return v[:len(v):len(v)]
	}
	return append([]byte(nil), v...)
}

func (d *decoder) location() crypto.Location {
	l := crypto.Location(math.Float64frombits(d.u64()))
	if d.err == nil && !validLocation(l) {
		d.fail("location %v not in [0,1)", float64(l))
	}
	return l
}

// locations checks the count against MaxPeerLocations and the bytes left before allocating.
func (d *decoder) locations() []crypto.Location {
	n := int(d.u8())
	if n > MaxPeerLocations {
		d.fail("%d peer locations, at most %d", n, MaxPeerLocations)
	}
	if d.err != nil || len(d.b) < 8*n {
		d.fail("truncated location list")
		return nil
	}
	if n == 0 {
		return nil
	}
	ls := make([]crypto.Location, n)
	for i := range ls {
		ls[i] = d.location()
	}
	return ls
}

// ref reads a length-prefixed noderef in canonical text form and verifies its signature.
// The length is checked against MaxNodeRefSize before anything else, and the signature only
// after the text has parsed.
func (d *decoder) ref() *NodeRef {
	v := d.take(2)
	if v == nil {
		return nil
	}
	n := int(binary.BigEndian.Uint16(v))
	if n > MaxNodeRefSize {
		d.fail("noderef of %d bytes, at most %d", n, MaxNodeRefSize)
		return nil
	}
	text := d.take(n)
	if text == nil {
		return nil
	}
	r, err := parseCanonicalNodeRef(text)
	if err != nil {
		d.fail("%v", err)
		return nil
	}
	return r
}

func (d *decoder) request(k crypto.KeyType) *Request {
	m := &Request{KeyType: k, ID: d.u64(), HTL: d.htl()}
	m.Tail = d.flags()
	m.Stem = d.stem(m.HTL)
	m.Key, m.Timeout = d.bytes32(), d.timeout()
	return m
}

// flags writes the flags byte of requests and inserts: bit 0 is Tail, the others are zero.
func (e *encoder) flags(tail bool) {
	var f uint8
	if tail {
		f |= flagTail
	}
	e.u8(f)
}

// stem writes a stem tag, which only a message at HTL 18 may carry: below the stem it would
// link a download's requests for every node they pass.
func (e *encoder) stem(htl uint8, tag uint64) {
	if tag != 0 && htl < MaxHTL {
		e.fail("stem tag at HTL %d, below the stem", htl)
	}
	e.u64(tag)
}

func (d *decoder) stem(htl uint8) uint64 {
	tag := d.u64()
	if tag != 0 && htl < MaxHTL {
		d.fail("stem tag at HTL %d, below the stem", htl)
	}
	return tag
}

func (d *decoder) flags() (tail bool) {
	f := d.u8()
	if f&^flagTail != 0 {
		d.fail("flags %#02x: unknown bits set", f)
	}
	return f&flagTail != 0
}

func (d *decoder) insert(k crypto.KeyType) *Insert {
	m := &Insert{KeyType: k, ID: d.u64(), HTL: d.htl()}
	m.Tail = d.flags()
	m.Stem = d.stem(m.HTL)
	m.Key, m.Timeout, m.Block = d.bytes32(), d.timeout(), d.block(k)
	return m
}

func (d *decoder) dataReply(k crypto.KeyType) *DataReply {
	return &DataReply{KeyType: k, ID: d.u64(), Block: d.block(k)}
}
