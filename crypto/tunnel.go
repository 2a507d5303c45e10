package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hpke"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Tunnel cryptography (docs/spec.md §18.11): the nodes' tunnel keys and their attestations,
// the key exchange that gives each hop of a tunnel its keys, and the layers a cell carries.
// Everything here is a pure function of its inputs but the encapsulation, whose randomness
// crypto/hpke draws from crypto/rand.

// Sizes of spec §18.11.
const (
	// TunnelPublicKeySize is an X-Wing (ML-KEM-768 + X25519) public key.
	TunnelPublicKeySize = 1216
	// TunnelEncapsulationSize is an X-Wing encapsulation.
	TunnelEncapsulationSize = 1120
	// TunnelAttestationSize is a signed tunnel-key attestation (§18.11.1).
	TunnelAttestationSize = 2*len(NodeID{}) + 8 + TunnelPublicKeySize + ed25519.SignatureSize
	// TunnelEndOverhead is what the end's seal adds to a cell's content (§18.11.5).
	TunnelEndOverhead = 16

	tunnelAttestationSigned = TunnelAttestationSize - ed25519.SignatureSize
)

// ErrTunnel: tunnel key material or a cell that does not open. The caller destroys the
// tunnel (spec §18.11.2).
var ErrTunnel = errors.New("tunnel crypto failed")

// The HPKE suite of a tunnel hop (spec §18.11.4): X-Wing, HKDF-SHA256, export only. Keys are
// exported, not sealed with, so the AEAD is export-only.
var (
	tunnelKEM  = hpke.MLKEM768X25519()
	tunnelKDF  = hpke.HKDFSHA256()
	tunnelAEAD = hpke.ExportOnly()
)

// TunnelPublicKey is a node's tunnel public key as it travels in attestations.
type TunnelPublicKey [TunnelPublicKeySize]byte

// TunnelKey is a node's tunnel key pair (spec §18.11.1). It lives in memory only and is
// replaced every few hours, so what a recorded tunnel carried cannot be read once it is gone.
type TunnelKey struct {
	priv hpke.PrivateKey
	pub  TunnelPublicKey
}

// NewTunnelKey derives a tunnel key pair from a 32-byte seed (the KEM's DeriveKeyPair).
func NewTunnelKey(seed [KeySize]byte) (*TunnelKey, error) {
	priv, err := tunnelKEM.DeriveKeyPair(seed[:])
	if err != nil {
		return nil, fmt.Errorf("%w: derive tunnel key: %v", ErrTunnel, err)
	}
	k := &TunnelKey{priv: priv}
	copy(k.pub[:], priv.PublicKey().Bytes())
	return k, nil
}

// GenerateTunnelKey makes a fresh tunnel key pair from 32 bytes read from rand.
func GenerateTunnelKey(rand io.Reader) (*TunnelKey, error) {
	var seed [KeySize]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, fmt.Errorf("generate tunnel key: %w", err)
	}
	return NewTunnelKey(seed)
}

// Public is the key others encapsulate to.
func (k *TunnelKey) Public() TunnelPublicKey { return k.pub }

// TunnelHopKeys are the four keys one hop of a tunnel shares with the tunnel's originator
// (spec §18.11.4).
type TunnelHopKeys struct {
	ForwardLayer, BackwardLayer [KeySize]byte // the hop's layers on cells going away from and back to the originator
	ForwardEnd, BackwardEnd     [KeySize]byte // cells for and from the hop while it is the end
}

// exporter is the half of an HPKE context both sides have.
type exporter interface {
	Export(context string, length int) ([]byte, error)
}

func hopKeys(x exporter) (TunnelHopKeys, error) {
	var k TunnelHopKeys
	for _, e := range []struct {
		label string
		dst   *[KeySize]byte
	}{
		{labelTunnelForwardLayer, &k.ForwardLayer}, {labelTunnelBackwardLayer, &k.BackwardLayer},
		{labelTunnelForwardEnd, &k.ForwardEnd}, {labelTunnelBackwardEnd, &k.BackwardEnd},
	} {
		b, err := x.Export(e.label, KeySize)
		if err != nil {
			return TunnelHopKeys{}, fmt.Errorf("%w: export %s: %v", ErrTunnel, e.label, err)
		}
		copy(e.dst[:], b)
	}
	return k, nil
}

// EncapsulateTunnelHop is the originator's half of a hop's key exchange: an encapsulation to
// the hop's tunnel key, to be sent in a TunnelCreate or an Extend, and the keys it gives.
func EncapsulateTunnelHop(pub TunnelPublicKey) (enc [TunnelEncapsulationSize]byte, keys TunnelHopKeys, err error) {
	pk, err := tunnelKEM.NewPublicKey(pub[:])
	if err != nil {
		return enc, keys, fmt.Errorf("%w: tunnel public key: %v", ErrTunnel, err)
	}
	e, sender, err := hpke.NewSender(pk, tunnelKDF, tunnelAEAD, []byte(labelTunnelHop))
	if err != nil {
		return enc, keys, fmt.Errorf("%w: encapsulate: %v", ErrTunnel, err)
	}
	if len(e) != TunnelEncapsulationSize {
		panic("crypto: X-Wing encapsulation of an unexpected size")
	}
	copy(enc[:], e)
	keys, err = hopKeys(sender)
	return enc, keys, err
}

// DecapsulateTunnelHop is the hop's half: the keys an encapsulation to this key gives. enc
// is checked for size before any work.
func (k *TunnelKey) DecapsulateTunnelHop(enc []byte) (TunnelHopKeys, error) {
	if len(enc) != TunnelEncapsulationSize {
		return TunnelHopKeys{}, fmt.Errorf("%w: encapsulation of %d bytes, want %d", ErrTunnel, len(enc), TunnelEncapsulationSize)
	}
	r, err := hpke.NewRecipient(enc, k.priv, tunnelKDF, tunnelAEAD, []byte(labelTunnelHop))
	if err != nil {
		return TunnelHopKeys{}, fmt.Errorf("%w: decapsulate: %v", ErrTunnel, err)
	}
	return hopKeys(r)
}

// TunnelAttestation says "Signer is linked to Peer, and this is Signer's tunnel key until
// NotAfter" (spec §18.11.1). Only ParseTunnelAttestation and SignTunnelAttestation make one,
// so every value holds a signature that verifies.
type TunnelAttestation struct {
	Signer, Peer NodeID
	NotAfter     time.Time // whole seconds
	Key          TunnelPublicKey
	raw          [TunnelAttestationSize]byte
}

// SignTunnelAttestation makes the attestation a node sends peer over their link.
func SignTunnelAttestation(id *NodeIdentity, peer NodeID, notAfter time.Time, key TunnelPublicKey) *TunnelAttestation {
	a := &TunnelAttestation{Signer: id.ID(), Peer: peer, NotAfter: time.Unix(notAfter.Unix(), 0), Key: key}
	b := a.raw[:0]
	b = append(b, a.Signer[:]...)
	b = append(b, a.Peer[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(notAfter.Unix()))
	b = append(b, key[:]...)
	copy(a.raw[tunnelAttestationSigned:], ed25519.Sign(id.priv, attestationMessage(b)))
	return a
}

// ParseTunnelAttestation decodes an attestation and checks its signature: exactly
// TunnelAttestationSize bytes, signed by its signer. It does not check the peer or the time;
// the receiver does (spec §18.11.1).
func ParseTunnelAttestation(b []byte) (*TunnelAttestation, error) {
	if len(b) != TunnelAttestationSize {
		return nil, fmt.Errorf("%w: attestation of %d bytes, want %d", ErrTunnel, len(b), TunnelAttestationSize)
	}
	a := &TunnelAttestation{}
	copy(a.raw[:], b)
	copy(a.Signer[:], b[0:32])
	copy(a.Peer[:], b[32:64])
	secs := binary.BigEndian.Uint64(b[64:72])
	if secs > 1<<62 {
		return nil, fmt.Errorf("%w: attestation expiry %d out of range", ErrTunnel, secs)
	}
	a.NotAfter = time.Unix(int64(secs), 0)
	copy(a.Key[:], b[72:tunnelAttestationSigned])
	if !ed25519.Verify(ed25519.PublicKey(a.Signer[:]), attestationMessage(b[:tunnelAttestationSigned]), b[tunnelAttestationSigned:]) {
		return nil, fmt.Errorf("%w: attestation signature does not verify", ErrTunnel)
	}
	return a, nil
}

// Bytes is the attestation's encoding, TunnelAttestationSize bytes.
func (a *TunnelAttestation) Bytes() []byte { return a.raw[:] }

func attestationMessage(body []byte) []byte {
	msg := make([]byte, 0, len(labelTunnelAttestation)+1+len(body))
	msg = append(msg, labelTunnelAttestation...)
	msg = append(msg, 0)
	return append(msg, body...)
}

// TunnelLayer is one hop's layer in one direction (spec §18.11.5): AES-256-CTR under the
// layer key with IV seq ‖ 0⁸. A cell's sequence number is never used twice in one direction
// of a tunnel, and a cell body is at most 2¹¹ AES blocks, so no keystream is reused: the low
// eight bytes of the counter never carry into the sequence number.
type TunnelLayer struct{ block cipher.Block }

// NewTunnelLayer prepares a layer key.
func NewTunnelLayer(key [KeySize]byte) *TunnelLayer {
	b, err := aes.NewCipher(key[:])
	if err != nil {
		panic("crypto: AES-256 with a 32-byte key: " + err.Error())
	}
	return &TunnelLayer{block: b}
}

// XOR applies the layer to body in place; applying it twice removes it.
func (l *TunnelLayer) XOR(seq uint64, body []byte) {
	var iv [aes.BlockSize]byte
	binary.BigEndian.PutUint64(iv[:8], seq)
	cipher.NewCTR(l.block, iv[:]).XORKeyStream(body, body)
}

// TunnelEnd seals and opens what the originator and a tunnel's end say to each other, in one
// direction (spec §18.11.5): AES-256-GCM under the end key, nonce 0⁴ ‖ seq, no additional
// data. The nonce is unique for the key because a sequence number is used once per direction.
type TunnelEnd struct{ aead cipher.AEAD }

// NewTunnelEnd prepares an end key.
func NewTunnelEnd(key [KeySize]byte) *TunnelEnd { return &TunnelEnd{aead: newGCM(key)} }

// Seal appends the sealed content to dst: TunnelEndOverhead bytes longer than content.
func (e *TunnelEnd) Seal(dst []byte, seq uint64, content []byte) []byte {
	return e.aead.Seal(dst, tunnelNonce(seq), content, nil)
}

// Open opens a sealed body in place and returns the content.
func (e *TunnelEnd) Open(seq uint64, body []byte) ([]byte, error) {
	if len(body) < TunnelEndOverhead {
		return nil, fmt.Errorf("%w: cell body of %d bytes", ErrTunnel, len(body))
	}
	out, err := e.aead.Open(body[:0], tunnelNonce(seq), body, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: cell does not open", ErrTunnel)
	}
	return out, nil
}

func tunnelNonce(seq uint64) []byte {
	var n [12]byte
	binary.BigEndian.PutUint64(n[4:], seq)
	return n[:]
}
