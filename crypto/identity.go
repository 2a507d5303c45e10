package crypto

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
)

// NodeID names a node: its Ed25519 identity public key (spec §7). Links are pinned to it and
// noderefs are signed by it.
type NodeID [ed25519.PublicKeySize]byte

// String is the full ID in Lethe's base64 alphabet.
func (id NodeID) String() string { return encodeKey(id[:]) }

// Short is an 8-character prefix, enough to tell peers apart in a status page or log.
func (id NodeID) Short() string { return id.String()[:8] }

// MarshalText implements encoding.TextMarshaler.
func (id NodeID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler, strictly.
func (id *NodeID) UnmarshalText(b []byte) error { return decodeKey("node ID", string(b), id[:]) }

// LogValue redacts the ID to its short prefix.
func (id NodeID) LogValue() slog.Value { return slog.StringValue(id.Short()) }

// ParseNodeID decodes the text form of a node ID.
func ParseNodeID(s string) (NodeID, error) {
	var id NodeID
	return id, id.UnmarshalText([]byte(s))
}

// NodeIdentity is a node's private identity key.
type NodeIdentity struct {
	priv ed25519.PrivateKey
}

// NodeIdentitySeedSize is the size of the secret a node identity is stored as.
const NodeIdentitySeedSize = ed25519.SeedSize

// GenerateNodeIdentity makes a new identity from randomness read from rand.
func GenerateNodeIdentity(rand io.Reader) (*NodeIdentity, error) {
	var seed [NodeIdentitySeedSize]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, fmt.Errorf("generate node identity: %w", err)
	}
	return NewNodeIdentity(seed), nil
}

// NewNodeIdentity rebuilds an identity from its 32-byte seed.
func NewNodeIdentity(seed [NodeIdentitySeedSize]byte) *NodeIdentity {
	return &NodeIdentity{priv: ed25519.NewKeyFromSeed(seed[:])}
}

// Seed returns the secret to store (spec §7: the identity file holds exactly these bytes,
// optionally encrypted).
func (n *NodeIdentity) Seed() [NodeIdentitySeedSize]byte {
	return [NodeIdentitySeedSize]byte(n.priv.Seed())
}

// ID is the public node ID.
func (n *NodeIdentity) ID() NodeID {
	return NodeID(n.priv.Public().(ed25519.PublicKey))
}

// PrivateKey exposes the Ed25519 key for the TLS layer, which presents it in a self-signed
// certificate. Nothing else should need it.
func (n *NodeIdentity) PrivateKey() ed25519.PrivateKey { return n.priv }

// SignNodeRef signs the canonical text of a noderef. The label keeps a noderef signature from
// ever being valid as anything else the identity signs.
func (n *NodeIdentity) SignNodeRef(body []byte) []byte {
	return ed25519.Sign(n.priv, nodeRefMessage(body))
}

// VerifyNodeRef checks a noderef signature made by SignNodeRef.
func (id NodeID) VerifyNodeRef(body, sig []byte) bool {
	if len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(ed25519.PublicKey(id[:]), nodeRefMessage(body), sig)
}

func nodeRefMessage(body []byte) []byte {
	msg := make([]byte, 0, len(labelNodeRef)+1+len(body))
	msg = append(msg, labelNodeRef...)
	msg = append(msg, 0)
	return append(msg, body...)
}
