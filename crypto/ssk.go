package crypto

import (
	"crypto/ed25519"
	"fmt"
	"io"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
)

// Sizes of the hybrid SSK public key and signature (spec §4.1).
const (
	SSKPublicKeySize = ed25519.PublicKeySize + mldsa65.PublicKeySize // 32 + 1952
	SSKSignatureSize = ed25519.SignatureSize + mldsa65.SignatureSize // 64 + 3309
)

// SSKPrivateKey owns a signed subspace. It is derived from a 32-byte seed, which is what an
// insert URI carries; both halves of the hybrid key pair come from that seed.
type SSKPrivateKey struct {
	seed [KeySize]byte
	ed   ed25519.PrivateKey
	ml   *mldsa65.PrivateKey
	pub  SSKPublicKey
}

// SSKPublicKey is the hybrid public key: an Ed25519 key and an ML-DSA-65 key. A signature is
// valid only if both halves verify, so the key stays safe while either scheme stands.
type SSKPublicKey struct {
	raw [SSKPublicKeySize]byte // Ed25519 ‖ ML-DSA-65, as they travel in a block
	ed  ed25519.PublicKey
	ml  *mldsa65.PublicKey
}

// GenerateSSK makes a new subspace key pair from randomness read from rand.
func GenerateSSK(rand io.Reader) (*SSKPrivateKey, error) {
	var seed [KeySize]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, fmt.Errorf("ssk: read random seed: %w", err)
	}
	return NewSSKPrivateKey(seed), nil
}

// NewSSKPrivateKey derives the key pair that belongs to seed (spec §4.1): each half gets its
// own seed, HMAC-SHA256(seed, label), so the two schemes never share key material.
func NewSSKPrivateKey(seed [KeySize]byte) *SSKPrivateKey {
	edSeed := mac(seed[:], []byte(labelSSKEd25519))
	mlSeed := mac(seed[:], []byte(labelSSKMLDSA))
	ed := ed25519.NewKeyFromSeed(edSeed[:])
	mlPub, mlPriv := mldsa65.NewKeyFromSeed(&mlSeed)
	k := &SSKPrivateKey{seed: seed, ed: ed, ml: mlPriv}
	k.pub.ed = ed.Public().(ed25519.PublicKey)
	k.pub.ml = mlPub
	copy(k.pub.raw[:ed25519.PublicKeySize], k.pub.ed)
	mlPub.Pack((*[mldsa65.PublicKeySize]byte)(k.pub.raw[ed25519.PublicKeySize:]))
	return k
}

// Seed returns the 32 bytes the key pair is derived from: the secret an insert URI holds.
func (k *SSKPrivateKey) Seed() [KeySize]byte { return k.seed }

// Public returns the public half.
func (k *SSKPrivateKey) Public() *SSKPublicKey { return &k.pub }

// sign makes the hybrid signature over msg: Ed25519 ‖ ML-DSA-65. ML-DSA is used in its
// deterministic mode so that signing the same block twice gives the same bytes; a re-insert of
// unchanged content is then recognisably the same block and not a collision (spec §4.3).
// Deterministic ML-DSA is a standard FIPS 204 option; its risk is fault attacks on the signer,
// which is the user's own machine here.
func (k *SSKPrivateKey) sign(msg []byte) []byte {
	sig := make([]byte, SSKSignatureSize)
	copy(sig, ed25519.Sign(k.ed, msg))
	if err := mldsa65.SignTo(k.ml, msg, nil, false, sig[ed25519.SignatureSize:]); err != nil {
		panic("crypto: mldsa65.SignTo with a correctly sized buffer: " + err.Error())
	}
	return sig
}

// ParseSSKPublicKey decodes the hybrid public key as it travels in a block. The size is
// checked before anything is handed to circl, which panics on wrong sizes.
func ParseSSKPublicKey(b []byte) (*SSKPublicKey, error) {
	if len(b) != SSKPublicKeySize {
		return nil, fmt.Errorf("ssk public key is %d bytes, want %d", len(b), SSKPublicKeySize)
	}
	pk := &SSKPublicKey{}
	copy(pk.raw[:], b)
	pk.ed = ed25519.PublicKey(pk.raw[:ed25519.PublicKeySize])
	pk.ml = new(mldsa65.PublicKey)
	if err := pk.ml.UnmarshalBinary(pk.raw[ed25519.PublicKeySize:]); err != nil {
		return nil, fmt.Errorf("ssk public key: ML-DSA-65 half: %v", err)
	}
	// No canonicality check is needed after this: an ML-DSA-65 public key is ρ (32 bytes) and
	// t1 packed at exactly 10 bits per coefficient, so every bit pattern is the one encoding
	// of its value, and equal keys always have equal hashes.
	return pk, nil
}

// Bytes is the public key as it travels in a block: Ed25519 ‖ ML-DSA-65.
func (pk *SSKPublicKey) Bytes() []byte { return pk.raw[:] }

// Hash is the public-key hash a request URI carries (spec §4.1).
func (pk *SSKPublicKey) Hash() [KeySize]byte {
	return labelledHash(labelSSKPublicKey, pk.raw[:])
}

// Verify reports whether sig is a valid hybrid signature of msg: both the Ed25519 and the
// ML-DSA-65 halves must verify. A signature with one good half is rejected.
func (pk *SSKPublicKey) Verify(msg, sig []byte) bool {
	if len(sig) != SSKSignatureSize {
		return false
	}
	edOK := ed25519.Verify(pk.ed, msg, sig[:ed25519.SignatureSize])
	mlOK := mldsa65.Verify(pk.ml, msg, nil, sig[ed25519.SignatureSize:])
	return edOK && mlOK
}
