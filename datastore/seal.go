package datastore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"lethe/crypto"
)

// keyer holds the store's salt and derives, for a routing key, the database key a block is
// filed under and the key it is sealed with (spec §8.3).
type keyer struct {
	salt [saltSize]byte
}

// dbKey is HMAC-SHA256(salt, "lethe/v1/store-db-key" ‖ 0 ‖ block type ‖ routing key). Without
// the routing key it tells nothing about it; with the salt (which is in the file) and a
// routing key, anyone can compute it, so a key already known can be tested for.
func (k *keyer) dbKey(kt crypto.KeyType, rk crypto.RoutingKey) dbKey {
	h := hmac.New(sha256.New, k.salt[:])
	h.Write([]byte(labelDBKey))
	h.Write([]byte{0, byte(kt)})
	h.Write(rk[:])
	var d dbKey
	h.Sum(d[:0])
	return d
}

// aead is AES-256-GCM under HMAC-SHA256(routing key, "lethe/v1/store-seal-key" ‖ 0 ‖ salt). The
// routing key is the secret: the store never writes it, so whoever reads the file without
// already knowing a key cannot open the records. The salt makes the sealed bytes of one block
// differ from store to store, so two files cannot be matched record by record.
func (k *keyer) aead(rk crypto.RoutingKey) cipher.AEAD {
	h := hmac.New(sha256.New, rk[:])
	h.Write([]byte(labelSealKey))
	h.Write([]byte{0})
	h.Write(k.salt[:])
	var key [32]byte
	h.Sum(key[:0])
	b, err := aes.NewCipher(key[:])
	if err != nil {
		panic("datastore: aes.NewCipher with a 32-byte key: " + err.Error())
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic("datastore: cipher.NewGCM: " + err.Error())
	}
	return g
}

// seal builds the data record of a verified block (spec §8.2). The nonce is random, not fixed:
// an SSK routing key can, over time, hold two different valid blocks (a collision evicted and
// then the other block stored), and both would be sealed under the same key. With 96 random
// bits and a handful of seals per key, a repeat is out of reach.
func (k *keyer) seal(rand io.Reader, kt crypto.KeyType, rk crypto.RoutingKey, d dbKey, block []byte) ([]byte, error) {
	v := make([]byte, recordHeaderSize, recordSize(kt))
	v[0] = recordVersion
	v[recordOffType] = byte(kt)
	copy(v[recordOffKey:], d[:])
	if _, err := io.ReadFull(rand, v[recordOffNonce:recordHeaderSize]); err != nil {
		return nil, fmt.Errorf("read nonce: %w", err)
	}
	v = k.aead(rk).Seal(v, v[recordOffNonce:recordHeaderSize], block, recordAAD(v))
	binary.BigEndian.PutUint32(v[recordOffCRC:], recordCRC(v))
	return v, nil
}

// open decrypts a record's block. The additional data binds the ciphertext to its version,
// block type and database key, so a record moved under another key does not open.
func (k *keyer) open(rk crypto.RoutingKey, v []byte, r record) ([]byte, error) {
	block, err := k.aead(rk).Open(make([]byte, 0, blockSize(r.kt)), r.nonce, r.sealed, recordAAD(v))
	if err != nil {
		return nil, fmt.Errorf("%w data record: seal does not open", errFormat)
	}
	return block, nil
}

// recordAAD is version ‖ block type ‖ D, 34 bytes from the record's header.
func recordAAD(v []byte) []byte {
	aad := make([]byte, 0, 2+dbKeySize)
	aad = append(aad, v[0])
	return append(aad, v[recordOffType:recordOffNonce]...)
}

// lockedReader serialises reads from a caller's io.Reader, which need not be safe for the
// concurrent Puts that draw nonces from it.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader // guarded by mu
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}
