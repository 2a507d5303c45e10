package datastore

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"lethe/crypto"
)

// The raw file shows no plaintext, no routing key and no network ciphertext: someone who reads
// it without already knowing a key learns none of them (spec §8.3, SECURITY.md).
func TestFileShowsNoKeysNoBlocksNoPlaintext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := Open(path, Options{noSync: true, StoreBytes: 20 * crypto.CHKBlockSize, CacheBytes: 10 * crypto.CHKBlockSize})
	if err != nil {
		t.Fatal(err)
	}
	var blocks []testBlock
	var markers [][]byte
	for i := range 40 {
		marker := fmt.Appendf(nil, "LETHE-BLINDNESS-MARKER-%03d", i)
		markers = append(markers, marker)
		payload := bytes.Repeat(marker, 1000)
		block, key, err := crypto.EncodeCHKConvergent(payload)
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, testBlock{crypto.CHK, key.Routing, block})
	}
	for i := range 6 {
		marker := fmt.Appendf(nil, "LETHE-SSK-MARKER-%03d", i)
		markers = append(markers, marker)
		blocks = append(blocks, sskBlock(t, string(marker), string(bytes.Repeat(marker, 100))))
	}
	// Through both areas, promotions and evictions, so that freed pages hold old records too.
	for i, b := range blocks {
		mustPut(t, s, b, []Area{AreaCache, AreaStore}[i%2])
		if i%3 == 0 {
			mustPut(t, s, b, AreaStore)
		}
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	type probe struct {
		what string
		b    []byte
	}
	var probes []probe
	for _, m := range markers {
		probes = append(probes, probe{"plaintext marker " + string(m), m})
	}
	for i, b := range blocks {
		rk := b.rk
		text, _ := rk.MarshalText()
		probes = append(probes,
			probe{fmt.Sprint("routing key ", i), rk[:]},
			probe{fmt.Sprint("routing key bytes 2-10 of ", i), rk[2:10]}, // past the coarse location the store index keeps
			probe{fmt.Sprint("routing key text ", i), text},
		)
		for _, off := range []int{0, 2, 100, len(b.block) / 2, len(b.block) - 16} {
			probes = append(probes, probe{fmt.Sprintf("network block %d at %d", i, off), b.block[off : off+16]})
		}
		if b.kt == crypto.SSK {
			pub, _ := crypto.SSKBlockPublicKey(b.block)
			probes = append(probes, probe{fmt.Sprint("SSK public key in block ", i), pub[:16]})
		}
	}
	for _, p := range probes {
		if bytes.Contains(raw, p.b) {
			t.Errorf("the raw file contains the %s", p.what)
		}
	}
	// The test would catch a leak: the database keys, which are meant to be there, are found.
	s = openAt(t, path, Options{StoreBytes: 20 * crypto.CHKBlockSize, CacheBytes: 10 * crypto.CHKBlockSize})
	found := 0
	for _, b := range blocks {
		d := s.keys.dbKey(b.kt, b.rk)
		if s.Has(b.kt, b.rk) && bytes.Contains(raw, d[:]) {
			found++
		}
	}
	if found == 0 {
		t.Error("no database key found in the file: the scan looks at the wrong bytes")
	}
}
