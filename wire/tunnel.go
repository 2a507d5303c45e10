package wire

import (
	"fmt"

	"lethe/crypto"
)

// The link messages of tunnels (spec §10.2, §18.11): a node's tunnel key for a link, a hop's
// creation, the two sizes of cell, and a hop's end. What a cell carries inside is in
// tunnelinner.go.

// Message types of tunnels.
const (
	TypeTunnelKey       Type = 0x60
	TypeTunnelCreate    Type = 0x61
	TypeTunnelCell      Type = 0x62
	TypeTunnelBlockCell Type = 0x63
	TypeTunnelDestroy   Type = 0x64
)

// Cell sizes (spec §18.11.5). A small cell fills one small frame; a block cell is as long as
// a CHK insert, the longest message, and so crosses the link as one does.
const (
	// TunnelCellSize and TunnelBlockCellSize are the encodings of the two cells: a small
	// frame's payload (1024 bytes less the frame's 4-byte header, spec §11.2), and a CHK
	// insert's length.
	TunnelCellSize      = 1020
	TunnelBlockCellSize = MaxMessageSize
	// TunnelCellBody and TunnelBlockCellBody are their bodies: the size less the type,
	// circuit, flags and sequence number.
	TunnelCellBody      = TunnelCellSize - tunnelCellHeader
	TunnelBlockCellBody = TunnelBlockCellSize - tunnelCellHeader

	tunnelCellHeader = 1 + 8 + 1 + 8
	flagBack         = 0x01
)

// TunnelKey carries the sender's attestation for this link (spec §18.11.1): its tunnel key,
// signed, naming the receiver as its peer. The decoder checks the signature; the receiver
// checks the names and the time.
type TunnelKey struct {
	Attestation *crypto.TunnelAttestation
}

// TunnelCreate opens a hop of a tunnel at the receiver (spec §18.11.2): a circuit ID of the
// sender's on this link, the sequence number the hop answers with, and an encapsulation to the
// receiver's tunnel key.
type TunnelCreate struct {
	Circuit uint64
	Seq     uint64
	Enc     [crypto.TunnelEncapsulationSize]byte
}

// TunnelCell is a cell of a tunnel (spec §18.11.5): TunnelCell or TunnelBlockCell by the size
// of its body, which must be TunnelCellBody or TunnelBlockCellBody bytes. Back marks a cell
// travelling towards the tunnel's originator.
type TunnelCell struct {
	Circuit uint64
	Back    bool
	Seq     uint64
	Body    []byte
}

// TunnelDestroy ends a hop of a tunnel; the receiver passes it on to the circuit's other side.
type TunnelDestroy struct {
	Circuit uint64
	Back    bool
	Reason  DestroyReason
}

// DestroyReason says why a tunnel hop ended (spec §10.2).
type DestroyReason uint8

const (
	DestroyClosed   DestroyReason = iota // the originator closed it, or it was idle
	DestroyRefused                       // a hop would not take it: overloaded, or at its limits
	DestroyFailed                        // a cell did not open, or a step took too long
	DestroyLinkLost                      // a link along it went down
)

func (m *TunnelKey) Type() Type     { return TypeTunnelKey }
func (m *TunnelCreate) Type() Type  { return TypeTunnelCreate }
func (m *TunnelDestroy) Type() Type { return TypeTunnelDestroy }

// Type is TypeTunnelCell or TypeTunnelBlockCell by the body's size; 0, which no decoder
// accepts, for any other.
func (m *TunnelCell) Type() Type {
	switch len(m.Body) {
	case TunnelCellBody:
		return TypeTunnelCell
	case TunnelBlockCellBody:
		return TypeTunnelBlockCell
	}
	return 0
}

func (m *TunnelKey) encode(e *encoder) {
	if m.Attestation == nil {
		e.fail("no attestation")
		return
	}
	e.b = append(e.b, m.Attestation.Bytes()...)
}

func (m *TunnelCreate) encode(e *encoder) {
	e.u64(m.Circuit)
	e.u64(m.Seq)
	e.b = append(e.b, m.Enc[:]...)
}

func (m *TunnelCell) encode(e *encoder) {
	e.u64(m.Circuit)
	e.back(m.Back)
	e.u64(m.Seq)
	e.b = append(e.b, m.Body...)
}

func (m *TunnelDestroy) encode(e *encoder) {
	e.u64(m.Circuit)
	e.back(m.Back)
	if m.Reason > DestroyLinkLost {
		e.fail("destroy reason %d", m.Reason)
	}
	e.u8(uint8(m.Reason))
}

func (e *encoder) back(b bool) {
	var f uint8
	if b {
		f = flagBack
	}
	e.u8(f)
}

func (d *decoder) back() bool {
	f := d.u8()
	if f&^flagBack != 0 {
		d.fail("tunnel flags %#02x: unknown bits set", f)
	}
	return f&flagBack != 0
}

func (d *decoder) attestation() *crypto.TunnelAttestation {
	v := d.take(crypto.TunnelAttestationSize)
	if v == nil {
		return nil
	}
	a, err := crypto.ParseTunnelAttestation(v)
	if err != nil {
		d.fail("%v", err)
		return nil
	}
	return a
}

// cell reads a cell whose body is what is left: the decoder's table has already picked the
// type by its first byte, so the body must have that type's size.
func (d *decoder) cell(body int) *TunnelCell {
	m := &TunnelCell{Circuit: d.u64(), Back: d.back(), Seq: d.u64()}
	if v := d.take(body); v != nil {
		if d.shared {
			m.Body = v[:len(v):len(v)]
		} else {
			m.Body = append([]byte(nil), v...)
		}
	}
	return m
}

func init() {
	for t, name := range map[Type]string{
		TypeTunnelKey: "TunnelKey", TypeTunnelCreate: "TunnelCreate", TypeTunnelCell: "TunnelCell",
		TypeTunnelBlockCell: "TunnelBlockCell", TypeTunnelDestroy: "TunnelDestroy",
	} {
		if typeNames[t] != "" || decoders[t] != nil {
			panic(fmt.Sprintf("wire: message type %#02x defined twice", uint8(t)))
		}
		typeNames[t] = name
	}
	decoders[TypeTunnelKey] = func(d *decoder) Message { return &TunnelKey{Attestation: d.attestation()} }
	decoders[TypeTunnelCreate] = func(d *decoder) Message {
		m := &TunnelCreate{Circuit: d.u64(), Seq: d.u64()}
		copy(m.Enc[:], d.take(crypto.TunnelEncapsulationSize))
		return m
	}
	decoders[TypeTunnelCell] = func(d *decoder) Message { return d.cell(TunnelCellBody) }
	decoders[TypeTunnelBlockCell] = func(d *decoder) Message { return d.cell(TunnelBlockCellBody) }
	decoders[TypeTunnelDestroy] = func(d *decoder) Message {
		m := &TunnelDestroy{Circuit: d.u64(), Back: d.back(), Reason: DestroyReason(d.u8())}
		if d.err == nil && m.Reason > DestroyLinkLost {
			d.fail("destroy reason %d", m.Reason)
		}
		return m
	}
}
