package crypto

import (
	"bytes"
	"errors"
	"testing"
)

func TestIdentityFilePlain(t *testing.T) {
	n := NewNodeIdentity(seedFor("identity file"))
	data := MarshalIdentity(n)
	if IdentitySealed(data) {
		t.Fatal("plain identity file reported as sealed")
	}
	for _, pass := range []string{"", "ignored"} {
		got, err := OpenIdentity(data, pass)
		if err != nil {
			t.Fatalf("OpenIdentity(plain, %q): %v", pass, err)
		}
		if got.ID() != n.ID() {
			t.Fatalf("plain identity file opened to %v, want %v", got.ID(), n.ID())
		}
	}
}

func TestIdentityFileSealed(t *testing.T) {
	n := NewNodeIdentity(seedFor("sealed identity"))
	data, err := SealIdentity(n, "correct horse", 10)
	if err != nil {
		t.Fatal(err)
	}
	if !IdentitySealed(data) {
		t.Fatal("sealed identity file not recognised as sealed")
	}
	seed := n.Seed()
	if bytes.Contains(data, []byte(encodeKey(seed[:]))) || bytes.Contains(data, seed[:]) {
		t.Fatal("sealed identity file contains the seed")
	}
	got, err := OpenIdentity(data, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID() != n.ID() {
		t.Fatalf("sealed identity opened to %v, want %v", got.ID(), n.ID())
	}
	if _, err := OpenIdentity(data, ""); !errors.Is(err, ErrPassphraseRequired) {
		t.Errorf("no passphrase: err = %v, want ErrPassphraseRequired", err)
	}
	if _, err := OpenIdentity(data, "wrong horse"); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("wrong passphrase: err = %v, want ErrWrongPassphrase", err)
	}
	tampered := bytes.Clone(data)
	tampered[len(tampered)-1] ^= 1
	if _, err := OpenIdentity(tampered, "correct horse"); !errors.Is(err, ErrIdentityFile) {
		t.Errorf("tampered file: err = %v, want ErrIdentityFile", err)
	}
	if _, err := SealIdentity(n, "", 10); err == nil {
		t.Error("SealIdentity accepted an empty passphrase")
	}
	if _, err := SealIdentity(n, "x", 30); err == nil {
		t.Error("SealIdentity accepted a work factor the opener refuses")
	}
}

func TestIdentityFileMalformed(t *testing.T) {
	good := string(MarshalIdentity(NewNodeIdentity(seedFor("malformed"))))
	for name, data := range map[string]string{
		"empty":           "",
		"no header":       good[len(identityFileHeader):],
		"no final line":   good[:len(good)-1],
		"extra line":      good + "\n",
		"crlf":            good[:len(good)-1] + "\r\n",
		"short seed":      identityFileHeader + "AAAA\n",
		"other version":   "lethe-node-identity v2\n" + good[len(identityFileHeader):],
		"oversized":       good + string(make([]byte, MaxIdentityFileSize)),
		"sealed, garbage": ageHeader + "-> nonsense\n",
	} {
		if _, err := OpenIdentity([]byte(data), "pass"); !errors.Is(err, ErrIdentityFile) {
			t.Errorf("%s: err = %v, want ErrIdentityFile", name, err)
		}
	}
}

// FuzzOpenIdentity: any bytes either fail to open or open to an identity whose plain file is
// exactly the input (one spelling per seed). It opens without a passphrase: the sealed form is
// age's format, fuzzed by age itself, and a mutated scrypt work factor would make each run
// cost up to a gigabyte.
func FuzzOpenIdentity(f *testing.F) {
	good := MarshalIdentity(NewNodeIdentity(seedFor("fuzz identity")))
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add([]byte(ageHeader))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := OpenIdentity(data, "")
		if err != nil {
			if IdentitySealed(data) && !errors.Is(err, ErrPassphraseRequired) {
				t.Fatalf("sealed-looking file without passphrase: %v", err)
			}
			return
		}
		if !bytes.Equal(MarshalIdentity(got), data) {
			t.Fatalf("plain file %q opened but is not canonical", data)
		}
	})
}
