package crypto

import (
	"encoding/hex"
	"testing"
)

// TestSplitfileBlockKey pins the derivation of spec §13.3 with a known answer and checks that
// every position gets its own key.
func TestSplitfileBlockKey(t *testing.T) {
	secret := seedFor("splitfile")
	got := SplitfileBlockKey(secret, 1, 2)
	// HMAC-SHA256(secret, "lethe/v1/splitfile-block-key" 00 00000001 0002), computed
	// independently of this package.
	const want = "d2238f6600e1baea17b1513319a66d26449cf8ef154d86c99c5954f9f7230856"
	if hex.EncodeToString(got[:]) != want {
		t.Fatalf("SplitfileBlockKey(1,2) = %x, want %s", got, want)
	}
	seen := map[[KeySize]byte]bool{}
	for seg := uint32(0); seg < 4; seg++ {
		for i := uint16(0); i < 300; i++ {
			k := SplitfileBlockKey(secret, seg, i)
			if seen[k] {
				t.Fatalf("segment %d block %d repeats a key", seg, i)
			}
			seen[k] = true
		}
	}
}
