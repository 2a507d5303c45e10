package crypto

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestAgeRoundTrip(t *testing.T) {
	for _, pq := range []bool{false, true} {
		name := map[bool]string{false: "x25519", true: "hybrid"}[pq]
		t.Run(name, func(t *testing.T) {
			id, rcpt, err := GenerateAgeIdentity(pq)
			if err != nil {
				t.Fatal(err)
			}
			if pq && !strings.HasPrefix(rcpt, "age1pq1") {
				t.Fatalf("hybrid recipient %q lacks the age1pq1 prefix", rcpt[:10])
			}
			msg := bytes.Repeat([]byte("lethe "), 50000)
			var buf bytes.Buffer
			w, err := EncryptTo(&buf, []string{rcpt})
			if err != nil {
				t.Fatal(err)
			}
			w.Write(msg)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(buf.Bytes(), []byte("lethe lethe")) {
				t.Fatal("ciphertext contains the plaintext")
			}
			r, err := DecryptWith(bytes.NewReader(buf.Bytes()), strings.NewReader("# my key\n"+id+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatal("decrypted bytes differ")
			}

			other, _, _ := GenerateAgeIdentity(pq)
			if _, err := DecryptWith(bytes.NewReader(buf.Bytes()), strings.NewReader(other)); !errors.Is(err, ErrAgeNoIdentity) {
				t.Fatalf("wrong identity: got %v, want ErrAgeNoIdentity", err)
			}

			// A flipped byte in the body must fail, never yield altered plaintext.
			bad := bytes.Clone(buf.Bytes())
			bad[len(bad)-40] ^= 1
			r, err = DecryptWith(bytes.NewReader(bad), strings.NewReader(id))
			if err == nil {
				_, err = io.ReadAll(r)
			}
			if err == nil {
				t.Fatal("altered age file decrypted without error")
			}
		})
	}
}

func TestAgeRecipientErrors(t *testing.T) {
	_, classic, _ := GenerateAgeIdentity(false)
	_, hybrid, _ := GenerateAgeIdentity(true)
	for _, tc := range []struct {
		name string
		rs   []string
		ok   bool
	}{
		{"classic", []string{classic}, true},
		{"hybrid", []string{hybrid, hybrid}, true},
		{"none", nil, false},
		{"garbage", []string{"ssh-ed25519 AAAA"}, false},
		{"bad checksum", []string{flipLast(classic)}, false},
		{"mixed", []string{classic, hybrid}, false},
	} {
		err := CheckAgeRecipients(tc.rs)
		if (err == nil) != tc.ok {
			t.Errorf("%s: CheckAgeRecipients = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// flipLast changes the last character of a Bech32 string, which breaks its checksum.
func flipLast(s string) string {
	c := byte('q')
	if s[len(s)-1] == c {
		c = 'p'
	}
	return s[:len(s)-1] + string(c)
}
