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

// FuzzDecodeCHK: under a fixed key, DecodeCHK returns data for the one genuine block only;
// every other input is refused without a panic.
func FuzzDecodeCHK(f *testing.F) {
	var keys []CHKKey
	var blocks [][]byte
	for _, n := range []int{0, 1, 1000, CHKDataSize} {
		b, k, _ := EncodeCHKWithKey(testPayload(n), seedFor("fuzz chk"))
		keys, blocks = append(keys, k), append(blocks, b)
		f.Add(uint8(len(keys)-1), b)
	}
	f.Add(uint8(0), []byte{1, 1, 2, 3})
	f.Fuzz(func(t *testing.T, which uint8, block []byte) {
		i := int(which) % len(keys)
		payload, err := DecodeCHK(keys[i], block)
		if err == nil && !bytes.Equal(block, blocks[i]) {
			t.Fatalf("a block other than the genuine one decoded to %d bytes", len(payload))
		}
	})
}

// FuzzVerifySSK: only the genuine block verifies under its routing key.
func FuzzVerifySSK(f *testing.F) {
	ik := SSKInsertKey{Private: NewSSKPrivateKey(seedFor("fuzz ssk")), Crypto: seedFor("fuzz ssk crypto"), DocName: "d"}
	block, rk, _ := ik.Encode([]byte("fuzz"))
	f.Add(block)
	f.Add(block[:100])
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := VerifySSK(rk, b); err == nil && !bytes.Equal(b, block) {
			t.Fatal("a block other than the genuine one verified")
		}
		if p, err := DecodeSSK(ik.RequestKey(), b); err == nil && !bytes.Equal(b, block) {
			t.Fatalf("a forged block decoded to %q", p)
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
