package crypto

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
)

func testSSK(t testing.TB, name string) SSKInsertKey {
	t.Helper()
	return SSKInsertKey{Private: NewSSKPrivateKey(seedFor(name)), Crypto: seedFor(name + " crypto"), DocName: "doc-" + name}
}

func TestSSKRoundTrip(t *testing.T) {
	ik := testSSK(t, "roundtrip")
	for _, n := range []int{0, 1, SSKDataSize - 1, SSKDataSize} {
		t.Run(sizeName(n), func(t *testing.T) {
			t.Parallel()
			payload := testPayload(n)
			block, rk, err := ik.Encode(payload)
			if err != nil {
				t.Fatal(err)
			}
			if len(block) != SSKBlockSize {
				t.Fatalf("block is %d bytes, want %d", len(block), SSKBlockSize)
			}
			if rk != ik.RequestKey().RoutingKey() {
				t.Fatal("routing key from the insert side differs from the request side")
			}
			if err := VerifySSK(rk, block); err != nil {
				t.Fatalf("VerifySSK: %v", err)
			}
			got, err := DecodeSSK(ik.RequestKey(), block)
			if err != nil {
				t.Fatalf("DecodeSSK: %v", err)
			}
			if !bytes.Equal(got, payload) {
				t.Fatal("decoded payload differs")
			}
		})
	}
	if _, _, err := ik.Encode(make([]byte, SSKDataSize+1)); err == nil {
		t.Error("an oversized SSK payload was accepted")
	}
}

// TestSSKTamper flips bytes across every field of the block; each flip must fail
// verification. Every byte of the fields checked before the signature is flipped; in the
// ciphertext and signature, whose every byte the signature covers alike, one in seven is, plus
// the first and last of each, to keep the test quick under -race.
func TestSSKTamper(t *testing.T) {
	ik := testSSK(t, "tamper")
	block, rk, err := ik.Encode(testPayload(300))
	if err != nil {
		t.Fatal(err)
	}
	var positions []int
	for i := range block {
		if i < sskOffCipher || i%7 == 0 || i == sskOffCipher || i == sskOffSig-1 || i == sskOffSig || i == len(block)-1 ||
			i == sskOffSig+ed25519.SignatureSize-1 || i == sskOffSig+ed25519.SignatureSize {
			positions = append(positions, i)
		}
	}
	for _, i := range positions {
		block[i] ^= 0x01
		if err := VerifySSK(rk, block); !errors.Is(err, ErrVerify) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("byte %d flipped: VerifySSK = %v, want a verification failure", i, err)
		}
		block[i] ^= 0x01
	}
	if err := VerifySSK(rk, block); err != nil {
		t.Fatalf("restored block: %v", err)
	}
}

// TestSSKHalfSignature replaces one half of a valid hybrid signature by a valid signature of
// the same message from another key: the block must be refused either way.
func TestSSKHalfSignature(t *testing.T) {
	owner := testSSK(t, "owner")
	other := NewSSKPrivateKey(seedFor("other"))
	block, rk, _ := owner.Encode(testPayload(10))
	otherSig := other.sign(sskSignedMessage(block))

	edOnly := bytes.Clone(block) // Ed25519 half valid, ML-DSA half from another key
	copy(edOnly[sskOffSig+ed25519.SignatureSize:], otherSig[ed25519.SignatureSize:])
	if err := VerifySSK(rk, edOnly); !errors.Is(err, ErrVerify) {
		t.Errorf("only the Ed25519 half valid: err = %v, want ErrVerify", err)
	}

	mlOnly := bytes.Clone(block) // ML-DSA half valid, Ed25519 half from another key
	copy(mlOnly[sskOffSig:], otherSig[:ed25519.SignatureSize])
	if err := VerifySSK(rk, mlOnly); !errors.Is(err, ErrVerify) {
		t.Errorf("only the ML-DSA half valid: err = %v, want ErrVerify", err)
	}

	msg := []byte("message")
	sig := owner.Private.sign(msg)
	if !owner.Private.Public().Verify(msg, sig) {
		t.Fatal("a good hybrid signature does not verify")
	}
	if owner.Private.Public().Verify(msg, sig[:SSKSignatureSize-1]) {
		t.Error("a truncated signature verified")
	}
}

func TestSSKWrongKeys(t *testing.T) {
	ik := testSSK(t, "wrong")
	block, _, _ := ik.Encode(testPayload(10))
	for name, mutate := range map[string]func(*SSKKey){
		"crypto key":      func(k *SSKKey) { k.Crypto[3] ^= 1 },
		"document name":   func(k *SSKKey) { k.DocName += "x" },
		"public key hash": func(k *SSKKey) { k.PubKeyHash[0] ^= 1 },
	} {
		k := ik.RequestKey()
		mutate(&k)
		if _, err := DecodeSSK(k, block); !errors.Is(err, ErrVerify) {
			t.Errorf("wrong %s: err = %v, want ErrVerify", name, err)
		}
	}
}

// TestSSKBlockFromAnotherOwner: a block signed by someone else, carrying their public key,
// cannot stand in for the owner's document.
func TestSSKBlockFromAnotherOwner(t *testing.T) {
	owner := testSSK(t, "owner")
	thief := owner
	thief.Private = NewSSKPrivateKey(seedFor("thief"))
	forged, _, _ := thief.Encode(testPayload(10))
	if err := VerifySSK(owner.RequestKey().RoutingKey(), forged); !errors.Is(err, ErrVerify) {
		t.Errorf("another owner's block under our routing key: err = %v, want ErrVerify", err)
	}
}

func TestSSKCollision(t *testing.T) {
	ik := testSSK(t, "collide")
	first, rk1, _ := ik.Encode([]byte("first edition"))
	again, _, _ := ik.Encode([]byte("first edition"))
	second, rk2, _ := ik.Encode([]byte("a different text"))
	if rk1 != rk2 {
		t.Fatal("same document, different routing keys")
	}
	if err := VerifySSK(rk2, second); err != nil {
		t.Fatalf("the colliding block is itself valid, so only a comparison can catch it: %v", err)
	}
	if err := CheckSSKCollision(first, again); err != nil {
		t.Errorf("re-insert of identical content: %v, want no collision", err)
	}
	if err := CheckSSKCollision(first, second); !errors.Is(err, ErrCollision) {
		t.Errorf("different content under one key: err = %v, want ErrCollision", err)
	}
	// Different payloads must not share a nonce under the document's cipher key.
	if bytes.Equal(first[sskOffNonce:sskOffCipher], second[sskOffNonce:sskOffCipher]) {
		t.Error("two payloads under one document key share a nonce")
	}
}

func TestSSKGenerateDiffers(t *testing.T) {
	a, err := GenerateSSK(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := GenerateSSK(rand.Reader)
	if a.Public().Hash() == b.Public().Hash() {
		t.Fatal("two generated key pairs are the same")
	}
	if NewSSKPrivateKey(a.Seed()).Public().Hash() != a.Public().Hash() {
		t.Fatal("a key pair rebuilt from its seed differs")
	}
}

func TestParseSSKPublicKey(t *testing.T) {
	pk := NewSSKPrivateKey(seedFor("pk")).Public()
	got, err := ParseSSKPublicKey(pk.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got.Hash() != pk.Hash() {
		t.Fatal("parsed public key hashes differently")
	}
	for _, n := range []int{0, SSKPublicKeySize - 1, SSKPublicKeySize + 1} {
		if _, err := ParseSSKPublicKey(make([]byte, n)); err == nil {
			t.Errorf("%d-byte public key accepted", n)
		}
	}
}

func TestKSK(t *testing.T) {
	a := KSKInsertKey("lethe test keyword")
	b := KSKInsertKey("lethe test keyword")
	if a.RequestKey() != b.RequestKey() {
		t.Fatal("the same keyword derived two keys")
	}
	if KSKInsertKey("another keyword").RequestKey().RoutingKey() == a.RequestKey().RoutingKey() {
		t.Fatal("two keywords share a routing key")
	}
	block, rk, err := a.Encode([]byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := ParseURI("KSK@lethe test keyword")
	if err != nil {
		t.Fatal(err)
	}
	key, err := u.SSKKey()
	if err != nil {
		t.Fatal(err)
	}
	if key.RoutingKey() != rk {
		t.Fatal("KSK URI and KSK insert key disagree on the routing key")
	}
	got, err := DecodeSSK(key, block)
	if err != nil || string(got) != "hello" {
		t.Fatalf("DecodeSSK = %q, %v", got, err)
	}
}
