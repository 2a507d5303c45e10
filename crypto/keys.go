package crypto

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
)

// KeySize is the size of every routing key, crypto key, public-key hash and seed (spec §1).
const KeySize = 32

// RoutingKey is what nodes route and store a block by: for a CHK the SHA-256 of the block,
// for an SSK a hash of the owner's public key and the encrypted document name (spec §3, §4).
// It reveals nothing about the block's plaintext.
type RoutingKey [KeySize]byte

// Location is a point on the routing circle [0,1).
type Location float64

// Location places the key on the routing circle: the first 8 bytes, big-endian, keep their top
// 53 bits, divided by 2^53 (spec §1.3). Every float64 in the result is exact, so two
// implementations agree to the last bit.
func (k RoutingKey) Location() Location {
	return Location(float64(binary.BigEndian.Uint64(k[:8])>>11) / (1 << 53))
}

// Distance is the shorter way round the circle between two locations, in [0, 0.5].
func (l Location) Distance(m Location) float64 {
	d := math.Abs(float64(l) - float64(m))
	return math.Min(d, 1-d)
}

// Valid reports whether l is a location on the circle: finite and in [0,1).
func (l Location) Valid() bool {
	return l >= 0 && l < 1
}

// String is the full key in Lethe's base64 alphabet.
func (k RoutingKey) String() string { return encodeKey(k[:]) }

// MarshalText implements encoding.TextMarshaler.
func (k RoutingKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler, strictly.
func (k *RoutingKey) UnmarshalText(b []byte) error {
	return decodeKey("routing key", string(b), k[:])
}

// LogValue redacts the key to a short prefix, enough to correlate log lines but not to fetch.
func (k RoutingKey) LogValue() slog.Value { return slog.StringValue(k.String()[:8] + "…") }

// Base64 as Freenet writes it: the standard alphabet with '+' and '/' replaced by '~' and '-',
// unpadded, and strict, so that each value has exactly one encoding (no non-zero trailing bits).
var b64 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789~-").
	WithPadding(base64.NoPadding).Strict()

func encodeKey(b []byte) string { return b64.EncodeToString(b) }

// decodeKey decodes exactly len(dst) bytes of what, or says precisely what is wrong.
func decodeKey(what, s string, dst []byte) error {
	want := b64.EncodedLen(len(dst))
	if len(s) != want {
		// Say what length the text would decode to, which is what users compare against.
		got := b64.DecodedLen(len(s))
		return fmt.Errorf("%s is %d characters (%d bytes), want %d characters (%d bytes)", what, len(s), got, want, len(dst))
	}
	n, err := b64.Decode(dst, []byte(s))
	if err != nil {
		return fmt.Errorf("%s: bad base64: %v", what, err)
	}
	if n != len(dst) {
		return fmt.Errorf("%s is %d bytes, want %d", what, n, len(dst))
	}
	return nil
}

// mac is HMAC-SHA256(key, parts...): every keyed derivation in the spec uses it.
func mac(key []byte, parts ...[]byte) [32]byte {
	h := hmac.New(sha256.New, key)
	for _, p := range parts {
		h.Write(p)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// labelledHash is SHA-256(label ‖ parts...): every unkeyed hash in the spec uses it, so that no
// two uses can be confused. Labels never contain the byte 0x00 and are followed by one, so the
// label boundary is unambiguous.
func labelledHash(label string, parts ...[]byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(label))
	h.Write([]byte{0})
	for _, p := range parts {
		h.Write(p)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}
