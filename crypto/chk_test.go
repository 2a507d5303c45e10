package crypto

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
)

// testPayload is a deterministic payload of n bytes, different for every n.
func testPayload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*31 + n)
	}
	return p
}

func TestCHKRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, CHKDataSize - 1, CHKDataSize} {
		t.Run(sizeName(n), func(t *testing.T) {
			t.Parallel()
			payload := testPayload(n)
			block, key, err := EncodeCHK(rand.Reader, payload)
			if err != nil {
				t.Fatal(err)
			}
			if len(block) != CHKBlockSize {
				t.Fatalf("block is %d bytes, want %d whatever the payload", len(block), CHKBlockSize)
			}
			if err := VerifyCHK(key.Routing, block); err != nil {
				t.Fatalf("VerifyCHK: %v", err)
			}
			got, err := DecodeCHK(key, block)
			if err != nil {
				t.Fatalf("DecodeCHK: %v", err)
			}
			if !bytes.Equal(got, payload) {
				t.Fatalf("decoded %d bytes, not the %d inserted", len(got), len(payload))
			}
		})
	}
}

func TestCHKPayloadTooLarge(t *testing.T) {
	_, _, err := EncodeCHK(rand.Reader, make([]byte, CHKDataSize+1))
	if err == nil {
		t.Fatal("a payload one byte over the block size was accepted")
	}
}

func TestCHKRandomKeysDiffer(t *testing.T) {
	payload := testPayload(100)
	_, k1, _ := EncodeCHK(rand.Reader, payload)
	_, k2, _ := EncodeCHK(rand.Reader, payload)
	if k1.Routing == k2.Routing {
		t.Fatal("two random-key inserts of the same payload gave the same routing key: blocks would be recognisable")
	}
}

func TestCHKConvergent(t *testing.T) {
	payload := testPayload(1000)
	b1, k1, _ := EncodeCHKConvergent(payload)
	b2, k2, _ := EncodeCHKConvergent(payload)
	if k1 != k2 || !bytes.Equal(b1, b2) {
		t.Fatal("convergent encoding of the same payload differs")
	}
	_, k3, _ := EncodeCHKConvergent(testPayload(1001))
	if k3.Routing == k1.Routing {
		t.Fatal("different payloads gave the same convergent key")
	}
	got, err := DecodeCHK(k1, b1)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("convergent block does not decode: %v", err)
	}
}

// TestCHKTamper flips each byte of a block in turn: every change must fail verification, so
// no node ever stores or forwards a damaged block as the real one.
func TestCHKTamper(t *testing.T) {
	block, key, _ := EncodeCHK(rand.Reader, testPayload(5000))
	for i := range block {
		block[i] ^= 0x40
		if err := VerifyCHK(key.Routing, block); !errors.Is(err, ErrVerify) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("byte %d flipped: VerifyCHK = %v, want a verification failure", i, err)
		}
		if _, err := DecodeCHK(key, block); err == nil {
			t.Fatalf("byte %d flipped: DecodeCHK returned data", i)
		}
		block[i] ^= 0x40
	}
	if _, err := DecodeCHK(key, block); err != nil {
		t.Fatalf("restored block: %v", err)
	}
}

func TestCHKWrongKeys(t *testing.T) {
	block, key, _ := EncodeCHK(rand.Reader, testPayload(77))

	wrongCrypto := key
	wrongCrypto.Crypto[0] ^= 1
	if _, err := DecodeCHK(wrongCrypto, block); !errors.Is(err, ErrDecrypt) {
		t.Errorf("wrong crypto key: err = %v, want ErrDecrypt", err)
	}

	wrongRouting := key
	wrongRouting.Routing[31] ^= 1
	if _, err := DecodeCHK(wrongRouting, block); !errors.Is(err, ErrVerify) {
		t.Errorf("wrong routing key: err = %v, want ErrVerify", err)
	}

	// A peer that changes the ciphertext and offers the block under its new hash gets past
	// verification of that hash, but the AEAD tag still refuses it.
	block[100] ^= 1
	forged := CHKKey{Routing: sha256Sum(block), Crypto: key.Crypto}
	if _, err := DecodeCHK(forged, block); !errors.Is(err, ErrDecrypt) {
		t.Errorf("re-hashed forged block: err = %v, want ErrDecrypt", err)
	}
}

func TestCHKMalformed(t *testing.T) {
	block, key, _ := EncodeCHK(rand.Reader, nil)
	for _, b := range [][]byte{nil, block[:CHKBlockSize-1], append(block, 0)} {
		if err := VerifyCHK(key.Routing, b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%d-byte block: err = %v, want ErrMalformed", len(b), err)
		}
	}
}

func sizeName(n int) string { return fmt.Sprintf("size=%d", n) }

// TestBlockRoutingKey: the key a block names is the one it verifies against, for both kinds,
// and a block of the wrong size has none.
func TestBlockRoutingKey(t *testing.T) {
	chk, key, err := EncodeCHK(fixedReader("brk"), testPayload(100))
	if err != nil {
		t.Fatal(err)
	}
	ik := SSKInsertKey{Private: NewSSKPrivateKey(seedFor("brk")), Crypto: seedFor("brk c"), DocName: "d"}
	ssk, srk, err := ik.Encode(testPayload(10))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		kt    KeyType
		block []byte
		want  RoutingKey
	}{{CHK, chk, key.Routing}, {SSK, ssk, srk}} {
		if got, err := BlockRoutingKey(c.kt, c.block); err != nil || got != c.want {
			t.Errorf("%v: %v, %v; want %v", c.kt, got, err, c.want)
		}
	}
	if _, err := BlockRoutingKey(SSK, chk); !errors.Is(err, ErrMalformed) {
		t.Errorf("a CHK block as SSK: %v", err)
	}
	if _, err := BlockRoutingKey(CHK, chk[1:]); !errors.Is(err, ErrMalformed) {
		t.Errorf("a short block: %v", err)
	}
}

// TestCHKEncodeIntoReusedBuffer: a block encoded into a buffer that held another block is the
// block EncodeCHKWithKey makes, padding and all, for payloads long and short.
func TestCHKEncodeIntoReusedBuffer(t *testing.T) {
	buf := bytes.Repeat([]byte{0xa5}, CHKBlockSize)
	for _, n := range []int{CHKDataSize, 0, 1, 1000, CHKDataSize - 1} {
		var ck [KeySize]byte
		ck[0] = byte(n)
		want, wantKey, err := EncodeCHKWithKey(testPayload(n), ck)
		if err != nil {
			t.Fatal(err)
		}
		key, err := EncodeCHKInto(buf, testPayload(n), ck)
		if err != nil {
			t.Fatal(err)
		}
		if key != wantKey || !bytes.Equal(buf, want) {
			t.Errorf("a %d-byte payload encoded into a used buffer differs from a fresh encoding", n)
		}
	}
	if _, err := EncodeCHKInto(buf[:100], nil, [KeySize]byte{}); err == nil {
		t.Error("a block encoded into a 100-byte buffer")
	}
}
