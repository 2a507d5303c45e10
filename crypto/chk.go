package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// CHK block layout, version 1 (spec §3):
//
//	offset  size    field
//	0       1       version = 1
//	1       1       cipher  = 1 (AES-256-GCM, key derived from the URI's crypto key)
//	2       32786   AES-256-GCM(nonce = 0, aad = bytes 0..1) of
//	                    uint16 big-endian payload length ‖ payload ‖ zero padding to 32768
//	                plus the 16-byte tag
//
// Every block is exactly CHKBlockSize bytes whatever its payload, so its size tells nothing.
const (
	CHKDataSize   = 32 << 10                          // largest payload of one CHK block
	chkHeaderSize = 2                                 // version, cipher
	chkPlainSize  = 2 + CHKDataSize                   // length prefix + padded payload
	CHKBlockSize  = chkHeaderSize + chkPlainSize + 16 // 32788 bytes on the wire and on disk
	chkVersion    = 1
	chkCipherGCM  = 1
)

// Sentinel errors of block decoding. Callers branch on them with errors.Is.
var (
	// ErrVerify: the block does not match its routing key or signature. A node that sees
	// this must not store or forward the block; it came from a broken or hostile peer.
	ErrVerify = errors.New("block does not verify against its key")
	// ErrDecrypt: the block verifies but does not decrypt with the crypto key given, so the
	// URI is wrong (or was built for a different block).
	ErrDecrypt = errors.New("block does not decrypt with this key (wrong crypto key?)")
	// ErrMalformed: the block has the wrong size or an unknown version.
	ErrMalformed = errors.New("malformed block")
)

// CHKKey is what a request URI holds for a CHK: where the block lives and how to read it.
type CHKKey struct {
	Routing RoutingKey
	Crypto  [KeySize]byte
}

// EncodeCHK encrypts payload (at most CHKDataSize bytes) under a fresh random crypto key read
// from rand. Random keys are Lethe's default: an observer who knows a file cannot recognise
// its blocks while they are being inserted (spec §3.2).
func EncodeCHK(rand io.Reader, payload []byte) ([]byte, CHKKey, error) {
	var ck [KeySize]byte
	if _, err := io.ReadFull(rand, ck[:]); err != nil {
		return nil, CHKKey{}, fmt.Errorf("chk: read random key: %w", err)
	}
	return EncodeCHKWithKey(payload, ck)
}

// EncodeCHKConvergent encrypts payload under a key derived from the payload itself, so the
// same payload always gives the same block and key. This lets identical files deduplicate,
// at the price that anyone who has the plaintext can recognise the block (spec §3.2).
func EncodeCHKConvergent(payload []byte) ([]byte, CHKKey, error) {
	return EncodeCHKWithKey(payload, ConvergentKey(payload))
}

// ConvergentKey is the crypto key EncodeCHKConvergent uses for payload.
func ConvergentKey(payload []byte) [KeySize]byte {
	return labelledHash(labelCHKConvergent, payload)
}

// EncodeCHKWithKey is the deterministic core of CHK encoding: the block and its key are a
// function of the payload and crypto key alone. Known-answer tests pin it.
func EncodeCHKWithKey(payload []byte, cryptoKey [KeySize]byte) ([]byte, CHKKey, error) {
	block := make([]byte, CHKBlockSize)
	key, err := EncodeCHKInto(block, payload, cryptoKey)
	if err != nil {
		return nil, CHKKey{}, err
	}
	return block, key, nil
}

// EncodeCHKInto is EncodeCHKWithKey writing the block into block (CHKBlockSize bytes, whatever
// they held), so that a caller encoding many blocks can reuse its buffers.
func EncodeCHKInto(block, payload []byte, cryptoKey [KeySize]byte) (CHKKey, error) {
	if len(payload) > CHKDataSize {
		return CHKKey{}, fmt.Errorf("chk: payload is %d bytes, at most %d fit in a block", len(payload), CHKDataSize)
	}
	if len(block) != CHKBlockSize {
		return CHKKey{}, fmt.Errorf("chk: a block is %d bytes, not %d", CHKBlockSize, len(block))
	}
	block[0], block[1] = chkVersion, chkCipherGCM
	plain := block[chkHeaderSize : chkHeaderSize+chkPlainSize]
	binary.BigEndian.PutUint16(plain, uint16(len(payload)))
	clear(plain[2+copy(plain[2:], payload):]) // the padding
	aead := chkAEAD(&cryptoKey)
	// A fixed all-zero nonce is safe here because a cipher key encrypts exactly one
	// plaintext: random crypto keys are fresh per block, and a convergent key is a hash of
	// the payload, so the same key only ever meets the same padded plaintext again, giving
	// the same ciphertext (which is the point of convergence) and never a nonce reuse over
	// two different messages.
	var nonce [12]byte
	aead.Seal(plain[:0], nonce[:], plain, block[:chkHeaderSize])
	return CHKKey{Routing: sha256.Sum256(block), Crypto: cryptoKey}, nil
}

// chkAEAD derives the AES-256-GCM cipher from a CHK crypto key. The key in the URI is not used
// directly so that it is separated, by label, from any other use a later version makes of it.
func chkAEAD(cryptoKey *[KeySize]byte) cipher.AEAD {
	return newGCM(mac(cryptoKey[:], []byte(labelCHKCipher)))
}

// newGCM is AES-256-GCM under key. Both calls it makes fail only on wrong sizes, which a
// 32-byte key cannot have.
func newGCM(key [KeySize]byte) cipher.AEAD {
	b, err := aes.NewCipher(key[:])
	if err != nil {
		panic("crypto: aes.NewCipher with a 32-byte key: " + err.Error())
	}
	aead, err := cipher.NewGCM(b)
	if err != nil {
		panic("crypto: cipher.NewGCM: " + err.Error())
	}
	return aead
}

// VerifyCHK checks a block against its routing key. Any node can do this; it needs no crypto
// key and learns nothing about the plaintext. It is what every node runs before it stores or
// forwards a block.
func VerifyCHK(rk RoutingKey, block []byte) error {
	if len(block) != CHKBlockSize {
		return fmt.Errorf("%w: CHK block is %d bytes, want %d", ErrMalformed, len(block), CHKBlockSize)
	}
	if block[0] != chkVersion || block[1] != chkCipherGCM {
		return fmt.Errorf("%w: CHK block version %d cipher %d, want %d and %d", ErrMalformed, block[0], block[1], chkVersion, chkCipherGCM)
	}
	sum := sha256.Sum256(block)
	if subtle.ConstantTimeCompare(sum[:], rk[:]) != 1 {
		return ErrVerify
	}
	return nil
}

// DecodeCHK verifies a block against key.Routing and decrypts it with key.Crypto, returning
// the payload. A block that fails either step returns no data: ErrVerify if the block is not
// the one the routing key names, ErrDecrypt if the crypto key is wrong.
func DecodeCHK(key CHKKey, block []byte) ([]byte, error) {
	if err := VerifyCHK(key.Routing, block); err != nil {
		return nil, err
	}
	aead := chkAEAD(&key.Crypto)
	var nonce [12]byte
	plain, err := aead.Open(make([]byte, 0, chkPlainSize), nonce[:], block[chkHeaderSize:], block[:chkHeaderSize])
	if err != nil {
		return nil, ErrDecrypt
	}
	return unpad(plain, CHKDataSize)
}

// unpad reads the length prefix of a decrypted block and checks the padding is all zero, so
// that a payload has one encoding only.
func unpad(plain []byte, max int) ([]byte, error) {
	n := int(binary.BigEndian.Uint16(plain))
	if n > max {
		return nil, fmt.Errorf("%w: payload length %d exceeds %d", ErrMalformed, n, max)
	}
	for _, b := range plain[2+n:] {
		if b != 0 {
			return nil, fmt.Errorf("%w: non-zero padding", ErrMalformed)
		}
	}
	return plain[2 : 2+n : 2+n], nil
}
