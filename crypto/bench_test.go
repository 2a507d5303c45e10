package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"testing"
)

// The CHK benchmarks report MB/s of payload. BenchmarkRawCHKWork does the same primitive work
// as one encode plus one decode (AES-256-GCM seal and open of a block, two SHA-256 passes over
// it) with none of Lethe's framing, so the ratio of the two is Lethe's overhead (target ≥ 60%).

func BenchmarkCHKEncode(b *testing.B) {
	payload := testPayload(CHKDataSize)
	b.SetBytes(CHKDataSize)
	for b.Loop() {
		if _, _, err := EncodeCHK(rand.Reader, payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCHKDecode(b *testing.B) {
	block, key, _ := EncodeCHK(rand.Reader, testPayload(CHKDataSize))
	b.SetBytes(CHKDataSize)
	for b.Loop() {
		if _, err := DecodeCHK(key, block); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCHKEncodeDecode(b *testing.B) {
	payload := testPayload(CHKDataSize)
	b.SetBytes(CHKDataSize)
	for b.Loop() {
		block, key, err := EncodeCHK(rand.Reader, payload)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecodeCHK(key, block); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawCHKWork(b *testing.B) {
	key := make([]byte, 32)
	blk, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(blk)
	nonce := make([]byte, 12)
	plain := make([]byte, chkPlainSize)
	sealed := make([]byte, 0, CHKBlockSize)
	opened := make([]byte, 0, chkPlainSize)
	b.SetBytes(CHKDataSize)
	for b.Loop() {
		sealed = aead.Seal(sealed[:0], nonce, plain, nil)
		_ = sha256.Sum256(sealed)
		_ = sha256.Sum256(sealed)
		var err error
		if opened, err = aead.Open(opened[:0], nonce, sealed, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawSHA256(b *testing.B) {
	buf := make([]byte, CHKBlockSize)
	b.SetBytes(CHKBlockSize)
	for b.Loop() {
		_ = sha256.Sum256(buf)
	}
}

func BenchmarkRawAESGCM(b *testing.B) {
	blk, _ := aes.NewCipher(make([]byte, 32))
	aead, _ := cipher.NewGCM(blk)
	nonce := make([]byte, 12)
	buf := make([]byte, chkPlainSize, CHKBlockSize)
	b.SetBytes(chkPlainSize)
	for b.Loop() {
		aead.Seal(buf[:0], nonce, buf, nil)
	}
}

func BenchmarkSSKSign(b *testing.B) {
	ik := testSSK(b, "bench")
	payload := testPayload(SSKDataSize)
	for b.Loop() {
		payload[0]++ // a new payload each time, as an edition update would be
		if _, _, err := ik.Encode(payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSSKVerify(b *testing.B) {
	ik := testSSK(b, "bench")
	block, rk, _ := ik.Encode(testPayload(SSKDataSize))
	for b.Loop() {
		if err := VerifySSK(rk, block); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSSKKeyFromSeed(b *testing.B) {
	seed := seedFor("bench keygen")
	for b.Loop() {
		NewSSKPrivateKey(seed)
	}
}
