package wire

import (
	"errors"
	"fmt"

	"lethe/crypto"
)

// What a tunnel cell carries once its end opened it (spec §18.11.5): one inner message, then
// zeros to the end of the cell. Forward, to the end: Extend, Request, Insert; back, from it:
// Created, Data, Result, Collision.

// Content sizes: a cell's body less the end's seal.
const (
	TunnelCellContent      = TunnelCellBody - crypto.TunnelEndOverhead
	TunnelBlockCellContent = TunnelBlockCellBody - crypto.TunnelEndOverhead

	// MaxTunnelPeers bounds the attestations a Created holds: as many as a block cell has
	// room for.
	MaxTunnelPeers = (TunnelBlockCellContent - 2) / crypto.TunnelAttestationSize
)

// ErrMalformedInner: a cell's content that is not an inner message of spec §18.11.5. The
// sender is the tunnel's originator or end, not the peer that relayed it: the tunnel is
// destroyed, and no link is blamed.
var ErrMalformedInner = errors.New("malformed tunnel content")

// TunnelInner is an inner message.
type TunnelInner interface {
	innerType() uint8
	// BlockCell reports whether the message travels in a block cell.
	BlockCell() bool
	encodeInner(e *encoder)
}

// TunnelExtend asks the end to extend the tunnel to Node, one of its peers, with an
// encapsulation to Node's tunnel key.
type TunnelExtend struct {
	Node crypto.NodeID
	Enc  [crypto.TunnelEncapsulationSize]byte
}

// TunnelRequest asks the end to fetch a block. ID is the originator's own number for it,
// echoed in the answer; it never leaves the tunnel.
type TunnelRequest struct {
	ID      uint64
	KeyType crypto.KeyType
	Key     crypto.RoutingKey
}

// TunnelInsert asks the end to insert a block (its routing key follows from the block).
type TunnelInsert struct {
	ID      uint64
	KeyType crypto.KeyType
	Block   []byte
}

// TunnelCreated is a new hop's answer: its peer list, the attestations its peers gave it.
type TunnelCreated struct {
	Peers []*crypto.TunnelAttestation // at most MaxTunnelPeers
}

// TunnelData answers a TunnelRequest with the block.
type TunnelData struct {
	ID      uint64
	KeyType crypto.KeyType
	Block   []byte
}

// TunnelResult answers a request or insert without a block.
type TunnelResult struct {
	ID   uint64
	Code TunnelResultCode
}

// TunnelResultCode is how a request or insert through a tunnel ended (spec §18.11.5).
type TunnelResultCode uint8

const (
	ResultDataNotFound  TunnelResultCode = 1
	ResultRouteNotFound TunnelResultCode = 2
	ResultOverloaded    TunnelResultCode = 3
	ResultInserted      TunnelResultCode = 4
)

// TunnelCollision answers an SSK insert whose slot holds another block, which it carries.
type TunnelCollision struct {
	ID    uint64
	Block []byte // crypto.SSKBlockSize bytes
}

const (
	innerExtend    = 0x01
	innerRequest   = 0x02
	innerInsert    = 0x03
	innerCreated   = 0x81
	innerData      = 0x82
	innerResult    = 0x83
	innerCollision = 0x84
	innerBack      = 0x80 // the bit of the types that travel back
)

func (*TunnelExtend) innerType() uint8    { return innerExtend }
func (*TunnelRequest) innerType() uint8   { return innerRequest }
func (*TunnelInsert) innerType() uint8    { return innerInsert }
func (*TunnelCreated) innerType() uint8   { return innerCreated }
func (*TunnelData) innerType() uint8      { return innerData }
func (*TunnelResult) innerType() uint8    { return innerResult }
func (*TunnelCollision) innerType() uint8 { return innerCollision }

func (*TunnelExtend) BlockCell() bool    { return true }
func (*TunnelRequest) BlockCell() bool   { return false }
func (*TunnelInsert) BlockCell() bool    { return true }
func (*TunnelCreated) BlockCell() bool   { return true }
func (*TunnelData) BlockCell() bool      { return true }
func (*TunnelResult) BlockCell() bool    { return false }
func (*TunnelCollision) BlockCell() bool { return true }

// EncodeTunnelInner encodes m as the content of its cell: exactly TunnelCellContent or
// TunnelBlockCellContent bytes, zero-padded. The slice has room behind it for the end's seal
// (crypto.TunnelEndOverhead), so the caller can seal it in place, content[:0], with no
// second buffer of a block's size.
func EncodeTunnelInner(m TunnelInner) ([]byte, error) { return EncodeTunnelInnerIn(nil, m) }

// EncodeTunnelInnerIn is EncodeTunnelInner into buf, whose bytes it reuses if it has room for
// the content and its seal (TunnelBlockCellBody bytes hold any cell's): the content aliases
// buf. Whatever buf held is overwritten, the padding included.
func EncodeTunnelInnerIn(buf []byte, m TunnelInner) ([]byte, error) {
	if m == nil {
		return nil, fmt.Errorf("%w: nil inner message", ErrMalformedInner)
	}
	size := TunnelCellContent
	if m.BlockCell() {
		size = TunnelBlockCellContent
	}
	if cap(buf) < size+crypto.TunnelEndOverhead {
		buf = make([]byte, 0, size+crypto.TunnelEndOverhead)
	}
	e := encoder{b: append(buf[:0], m.innerType())}
	m.encodeInner(&e)
	if e.err == nil && len(e.b) > size {
		e.fail("%d bytes, more than a cell holds (%d)", len(e.b), size)
	}
	if e.err != nil {
		return nil, fmt.Errorf("%w: encode %T: %v", ErrMalformedInner, m, e.err)
	}
	content := e.b[:size]
	clear(content[len(e.b):]) // a reused buffer's old bytes are not padding
	return content, nil
}

// DecodeTunnelInner parses a cell's content. back says which way the cell travelled: an end
// accepts only the forward messages, an originator only the ones that come back. The content
// must be exactly the size of a cell's, the message's own cell, and zero after the message.
// Blocks and attestations are copied.
func DecodeTunnelInner(content []byte, back bool) (TunnelInner, error) {
	if len(content) != TunnelCellContent && len(content) != TunnelBlockCellContent {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformedInner, len(content))
	}
	d := decoder{b: content[1:]}
	var m TunnelInner
	switch t := content[0]; {
	case (t&innerBack != 0) != back:
		return nil, fmt.Errorf("%w: type %#02x travelling the wrong way", ErrMalformedInner, t)
	case t == innerExtend:
		x := &TunnelExtend{Node: d.bytes32()}
		copy(x.Enc[:], d.take(crypto.TunnelEncapsulationSize))
		m = x
	case t == innerRequest:
		x := &TunnelRequest{ID: d.u64(), KeyType: d.keyType()}
		x.Key = d.bytes32()
		m = x
	case t == innerInsert:
		x := &TunnelInsert{ID: d.u64(), KeyType: d.keyType()}
		x.Block = d.block(x.KeyType)
		m = x
	case t == innerCreated:
		x := &TunnelCreated{}
		n := int(d.u8())
		if n > MaxTunnelPeers {
			d.fail("%d attestations, at most %d", n, MaxTunnelPeers)
		}
		for i := 0; i < n && d.err == nil; i++ {
			x.Peers = append(x.Peers, d.attestation())
		}
		m = x
	case t == innerData:
		x := &TunnelData{ID: d.u64(), KeyType: d.keyType()}
		x.Block = d.block(x.KeyType)
		m = x
	case t == innerResult:
		x := &TunnelResult{ID: d.u64(), Code: TunnelResultCode(d.u8())}
		if d.err == nil && (x.Code < ResultDataNotFound || x.Code > ResultInserted) {
			d.fail("result code %d", x.Code)
		}
		m = x
	case t == innerCollision:
		m = &TunnelCollision{ID: d.u64(), Block: d.block(crypto.SSK)}
	default:
		return nil, fmt.Errorf("%w: unknown type %#02x", ErrMalformedInner, t)
	}
	if d.err == nil && m.BlockCell() != (len(content) == TunnelBlockCellContent) {
		d.fail("in the wrong size of cell")
	}
	for i, c := range d.b {
		if d.err == nil && c != 0 {
			d.fail("non-zero padding at byte %d", len(content)-len(d.b)+i)
		}
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %T: %v", ErrMalformedInner, m, d.err)
	}
	return m, nil
}

func (m *TunnelExtend) encodeInner(e *encoder) {
	e.b = append(e.b, m.Node[:]...)
	e.b = append(e.b, m.Enc[:]...)
}

func (m *TunnelRequest) encodeInner(e *encoder) {
	e.u64(m.ID)
	e.keyType(m.KeyType)
	e.key(m.Key)
}

func (m *TunnelInsert) encodeInner(e *encoder) {
	e.u64(m.ID)
	e.keyType(m.KeyType)
	e.block(m.KeyType, m.Block)
}

func (m *TunnelCreated) encodeInner(e *encoder) {
	if len(m.Peers) > MaxTunnelPeers {
		e.fail("%d attestations, at most %d", len(m.Peers), MaxTunnelPeers)
		return
	}
	e.u8(uint8(len(m.Peers)))
	for _, a := range m.Peers {
		if a == nil {
			e.fail("nil attestation")
			return
		}
		e.b = append(e.b, a.Bytes()...)
	}
}

func (m *TunnelData) encodeInner(e *encoder) {
	e.u64(m.ID)
	e.keyType(m.KeyType)
	e.block(m.KeyType, m.Block)
}

func (m *TunnelResult) encodeInner(e *encoder) {
	if m.Code < ResultDataNotFound || m.Code > ResultInserted {
		e.fail("result code %d", m.Code)
	}
	e.u64(m.ID)
	e.u8(uint8(m.Code))
}

func (m *TunnelCollision) encodeInner(e *encoder) {
	e.u64(m.ID)
	e.block(crypto.SSK, m.Block)
}

// keyType is the byte OfferKey and tunnel messages carry: 1 CHK, 2 SSK.
func (e *encoder) keyType(k crypto.KeyType) {
	if k != crypto.CHK && k != crypto.SSK {
		e.fail("key type %v", k)
	}
	e.u8(uint8(k))
}

func (d *decoder) keyType() crypto.KeyType {
	k := crypto.KeyType(d.u8())
	if d.err == nil && k != crypto.CHK && k != crypto.SSK {
		d.fail("key type %d", k)
	}
	return k
}
