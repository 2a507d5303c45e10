package crypto

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParseURI: any text either fails with ErrInvalidURI or parses to a URI that formats back
// to exactly the input (less the optional prefix): one canonical form per URI.
func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"CHK@" + kA + "," + k32 + "," + chkX + "/a.txt",
		"SSK@" + kA + "," + k32 + "," + sskX + "/doc/x/",
		"USK@" + kA + "," + k32 + "," + sskX + "/site/12/index.html",
		"KSK@words/p", "lethe:KSK@x", "CHK@", "USK@a,b,c/s/01",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURI(s)
		if err != nil {
			return
		}
		if got, want := u.String(), strings.TrimPrefix(s, URIPrefix); got != want {
			t.Fatalf("ParseURI(%q).String() = %q: not canonical", s, got)
		}
		if v, err := ParseURI(u.String()); err != nil || v != u {
			t.Fatalf("re-parse of %q: %+v, %v", u.String(), v, err)
		}
		_, _ = ParseInsertURI(s)
	})
}

func FuzzParseInsertURI(f *testing.F) {
	for _, s := range []string{
		"CHK@", "CHK@/name.txt", "SSK@" + kA + "," + k32 + "," + sskIX + "/",
		"USK@" + kA + "," + k32 + "," + sskIX + "/site/0", "KSK@x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseInsertURI(s)
		if err != nil {
			return
		}
		if got, want := u.String(), strings.TrimPrefix(s, URIPrefix); got != want {
			t.Fatalf("ParseInsertURI(%q).String() = %q: not canonical", s, got)
		}
		if v, err := ParseInsertURI(u.String()); err != nil || v != u {
			t.Fatalf("re-parse of %q: %+v, %v", u.String(), v, err)
		}
	})
}

// mutate applies a fuzzer-chosen edit to a copy of a genuine block: bytes patched in at an
// offset, then the length changed. Fuzzing the edit rather than 32 KiB of raw input keeps the
// fuzzer fast and its mutations aimed at every field of the block.
func mutate(block []byte, off uint16, patch []byte, length uint16) []byte {
	b := bytes.Clone(block)
	if o := int(off) % (len(b) + 1); len(patch) > 0 {
		b = append(b[:o], append(patch, b[min(o+len(patch), len(b)):]...)...)
	}
	if n := int(length); n < len(b) {
		b = b[:n]
	}
	return b
}

// FuzzDecodeCHK: under a fixed key, DecodeCHK returns data for the one genuine block only;
// every edit of it is refused without a panic.
func FuzzDecodeCHK(f *testing.F) {
	var keys []CHKKey
	var blocks [][]byte
	for _, n := range []int{0, 1, 1000, CHKDataSize} {
		b, k, _ := EncodeCHKWithKey(testPayload(n), seedFor("fuzz chk"))
		keys, blocks = append(keys, k), append(blocks, b)
	}
	f.Add(uint8(0), uint16(0), []byte{}, uint16(0xffff))
	f.Add(uint8(1), uint16(1), []byte{2}, uint16(0xffff))
	f.Add(uint8(2), uint16(40), []byte{1, 2, 3}, uint16(100))
	f.Add(uint8(3), uint16(CHKBlockSize-1), []byte{0, 0}, uint16(0xffff))
	f.Fuzz(func(t *testing.T, which uint8, off uint16, patch []byte, length uint16) {
		i := int(which) % len(keys)
		b := mutate(blocks[i], off, patch, length)
		payload, err := DecodeCHK(keys[i], b)
		if err == nil && !bytes.Equal(b, blocks[i]) {
			t.Fatalf("an edited block decoded to %d bytes", len(payload))
		}
		if err == nil && !bytes.Equal(payload, testPayload(len(payload))) {
			t.Fatal("the genuine block decoded to the wrong payload")
		}
	})
}

// FuzzDecodeCHKRaw: arbitrary bytes as a block never panic and never decode.
func FuzzDecodeCHKRaw(f *testing.F) {
	_, key, _ := EncodeCHKWithKey(nil, seedFor("fuzz chk"))
	f.Add([]byte{1, 1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := DecodeCHK(key, b); err == nil {
			t.Fatal("arbitrary bytes decoded")
		}
	})
}

// FuzzVerifySSK: only the genuine block verifies under its routing key, and only it decodes.
func FuzzVerifySSK(f *testing.F) {
	ik := SSKInsertKey{Private: NewSSKPrivateKey(seedFor("fuzz ssk")), Crypto: seedFor("fuzz ssk crypto"), DocName: "d"}
	block, rk, _ := ik.Encode([]byte("fuzz"))
	f.Add(uint16(0), []byte{}, uint16(0xffff))
	f.Add(uint16(sskOffDocName), []byte{7}, uint16(0xffff))
	f.Add(uint16(sskOffSig+10), []byte{7, 7}, uint16(0xffff))
	f.Add(uint16(0), []byte{}, uint16(100))
	f.Fuzz(func(t *testing.T, off uint16, patch []byte, length uint16) {
		b := mutate(block, off, patch, length)
		if err := VerifySSK(rk, b); err == nil && !bytes.Equal(b, block) {
			t.Fatal("an edited block verified")
		}
		if p, err := DecodeSSK(ik.RequestKey(), b); err == nil && !bytes.Equal(b, block) {
			t.Fatalf("an edited block decoded to %q", p)
		}
	})
}

// FuzzParseSSKPublicKey: no panics, and a parsed key encodes back to its input.
func FuzzParseSSKPublicKey(f *testing.F) {
	f.Add(NewSSKPrivateKey(seedFor("fuzz pk")).Public().Bytes())
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		pk, err := ParseSSKPublicKey(b)
		if err == nil && !bytes.Equal(pk.Bytes(), b) {
			t.Fatal("parsed public key re-encodes differently")
		}
	})
}
