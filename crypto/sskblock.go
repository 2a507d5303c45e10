package crypto

import (
	"bytes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
)

// SSK block layout, version 1 (spec §4.2):
//
//	offset  size  field
//	0       1     version = 1
//	1       1984  owner's public key: Ed25519 (32) ‖ ML-DSA-65 (1952)
//	1985    32    E(H(docname)) = HMAC-SHA256(crypto key, label ‖ 0 ‖ docname)
//	2017    12    nonce (synthetic, see sealSSK)
//	2029    4114  AES-256-GCM(aad = bytes 0..2016) of
//	                  uint16 big-endian payload length ‖ payload ‖ zero padding to 4096
//	              plus the 16-byte tag
//	6143    3373  hybrid signature (Ed25519 ‖ ML-DSA-65) over label ‖ 0 ‖ bytes 0..6142
//
// Blocks are all SSKBlockSize bytes. The public key travels in every block so that any node can
// verify a block from its routing key alone; at ~2 KB it is under a quarter of the block.
const (
	SSKDataSize      = 4 << 10 // largest payload of one SSK block
	sskVersion       = 1
	sskOffPub        = 1
	sskOffDocName    = sskOffPub + SSKPublicKeySize
	sskOffNonce      = sskOffDocName + KeySize
	sskOffCipher     = sskOffNonce + 12
	sskPlainSize     = 2 + SSKDataSize
	sskOffSig        = sskOffCipher + sskPlainSize + 16
	SSKBlockSize     = sskOffSig + SSKSignatureSize // 9516 bytes
	MaxDocNameLength = 512                          // bytes of UTF-8
)

// ErrCollision: a different block already exists under this SSK routing key. SSK slots are
// write-once (spec §4.3): the first block stays and the newcomer is refused.
var ErrCollision = errors.New("a different block already exists under this SSK")

// SSKKey is what a request URI holds for an SSK document: whose subspace, how to read it,
// and which document.
type SSKKey struct {
	PubKeyHash [KeySize]byte
	Crypto     [KeySize]byte
	DocName    string
}

// encryptedDocName hides the document name from nodes while letting the key holder find it.
func (k SSKKey) encryptedDocName() [KeySize]byte {
	return mac(k.Crypto[:], []byte(labelSSKDocName), []byte{0}, []byte(k.DocName))
}

// RoutingKey is where the document's block lives (spec §4.2):
// SHA-256(label ‖ 0 ‖ public-key hash ‖ E(H(docname))).
func (k SSKKey) RoutingKey() RoutingKey {
	eh := k.encryptedDocName()
	return sskRoutingKey(k.PubKeyHash[:], eh[:])
}

// sskBlockRoutingKey is the routing key an SSK block of the right size names: from the public
// key and encrypted document name it carries.
func sskBlockRoutingKey(block []byte) RoutingKey {
	pubHash := labelledHash(labelSSKPublicKey, block[sskOffPub:sskOffDocName])
	return sskRoutingKey(pubHash[:], block[sskOffDocName:sskOffNonce])
}

// BlockRoutingKey is the routing key a block of type kt is stored under: a CHK block's hash,
// or what an SSK block's public key and document name give (spec §3.1, §4.2). It checks only
// the size; VerifyCHK and VerifySSK check the rest against the key.
func BlockRoutingKey(kt KeyType, block []byte) (RoutingKey, error) {
	switch {
	case kt == CHK && len(block) == CHKBlockSize:
		return sha256.Sum256(block), nil
	case kt == SSK && len(block) == SSKBlockSize:
		return sskBlockRoutingKey(block), nil
	}
	return RoutingKey{}, fmt.Errorf("%w: %v block of %d bytes", ErrMalformed, kt, len(block))
}

func sskRoutingKey(pubKeyHash, ehDocName []byte) RoutingKey {
	return labelledHash(labelSSKRoutingKey, pubKeyHash, ehDocName)
}

func (k SSKKey) aead() cipher.AEAD {
	return newGCM(mac(k.Crypto[:], []byte(labelSSKCipher), []byte{0}, []byte(k.DocName)))
}

// EncodeSSK builds the signed block for document docName in priv's subspace. It is
// deterministic: the same key, document and payload always give the same bytes.
func EncodeSSK(priv *SSKPrivateKey, cryptoKey [KeySize]byte, docName string, payload []byte) ([]byte, RoutingKey, error) {
	if len(payload) > SSKDataSize {
		return nil, RoutingKey{}, fmt.Errorf("ssk: payload is %d bytes, at most %d fit in a block", len(payload), SSKDataSize)
	}
	if err := checkName("document name", docName, MaxDocNameLength, true); err != nil {
		return nil, RoutingKey{}, fmt.Errorf("ssk: %w", err)
	}
	key := SSKKey{PubKeyHash: priv.pub.Hash(), Crypto: cryptoKey, DocName: docName}
	block := make([]byte, SSKBlockSize)
	block[0] = sskVersion
	copy(block[sskOffPub:], priv.pub.raw[:])
	eh := key.encryptedDocName()
	copy(block[sskOffDocName:], eh[:])

	plain := block[sskOffCipher : sskOffCipher+sskPlainSize]
	binary.BigEndian.PutUint16(plain, uint16(len(payload)))
	copy(plain[2:], payload)
	// The same cipher key encrypts every edition the owner writes under this document name,
	// so a fixed nonce would be unsafe. The nonce is synthetic instead (as in SIV): an HMAC of
	// the padded plaintext under the document's key. Different payloads get different nonces;
	// the same payload gets the same nonce and so the same block, which keeps encoding
	// deterministic and makes a re-insert identical rather than a collision.
	nonceKey := mac(key.Crypto[:], []byte(labelSSKNonce), []byte{0}, []byte(docName))
	nonce := mac(nonceKey[:], plain)
	copy(block[sskOffNonce:sskOffCipher], nonce[:12])
	key.aead().Seal(plain[:0], block[sskOffNonce:sskOffCipher], plain, block[:sskOffNonce])

	sig := priv.sign(sskSignedMessage(block))
	copy(block[sskOffSig:], sig)
	return block, key.RoutingKey(), nil
}

// sskSignedMessage is what both halves of the signature sign: a label, then the block up to
// the signature.
func sskSignedMessage(block []byte) []byte {
	msg := make([]byte, 0, len(labelSSKSignature)+1+sskOffSig)
	msg = append(msg, labelSSKSignature...)
	msg = append(msg, 0)
	return append(msg, block[:sskOffSig]...)
}

// VerifySSK checks a block against its routing key: the public key it carries and its
// encrypted document name must hash to rk, and both halves of the signature must verify. Any
// node can do this without being able to read the block.
func VerifySSK(rk RoutingKey, block []byte) error {
	if len(block) != SSKBlockSize {
		return fmt.Errorf("%w: SSK block is %d bytes, want %d", ErrMalformed, len(block), SSKBlockSize)
	}
	if block[0] != sskVersion {
		return fmt.Errorf("%w: SSK block version %d, want %d", ErrMalformed, block[0], sskVersion)
	}
	// The routing key is checked before the public key is parsed or a signature verified, so
	// a peer cannot make us do expensive work for a block that is not even the one asked for.
	got := sskBlockRoutingKey(block)
	if subtle.ConstantTimeCompare(got[:], rk[:]) != 1 {
		return ErrVerify
	}
	pk, err := ParseSSKPublicKey(block[sskOffPub:sskOffDocName])
	if err != nil {
		return fmt.Errorf("%w: %v", ErrVerify, err)
	}
	if !pk.Verify(sskSignedMessage(block), block[sskOffSig:]) {
		return ErrVerify
	}
	return nil
}

// DecodeSSK verifies a block against key and decrypts it, returning the payload.
func DecodeSSK(key SSKKey, block []byte) ([]byte, error) {
	if err := VerifySSK(key.RoutingKey(), block); err != nil {
		return nil, err
	}
	plain, err := key.aead().Open(make([]byte, 0, sskPlainSize), block[sskOffNonce:sskOffCipher], block[sskOffCipher:sskOffSig], block[:sskOffNonce])
	if err != nil {
		return nil, ErrDecrypt
	}
	return unpad(plain, SSKDataSize)
}

// CheckSSKCollision compares a block already held under an SSK routing key with one newly
// offered for the same key (both verified). Identical blocks are a harmless re-insert; anything
// else is ErrCollision, and the existing block wins.
func CheckSSKCollision(existing, offered []byte) error {
	if bytes.Equal(existing, offered) {
		return nil
	}
	return ErrCollision
}

// SSKBlockPublicKey returns the owner's public key carried in a block of the right size.
func SSKBlockPublicKey(block []byte) ([]byte, error) {
	if len(block) != SSKBlockSize {
		return nil, fmt.Errorf("%w: SSK block is %d bytes, want %d", ErrMalformed, len(block), SSKBlockSize)
	}
	return block[sskOffPub:sskOffDocName], nil
}
