package datastore

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"

	"lethe/crypto"
)

// The store parses its own file, which an operator, a failing disk or a crash may have
// changed. These targets feed those parsers arbitrary bytes.

// FuzzStoredBytes: every parser of the file's small records either rejects the bytes with
// errFormat or accepts exactly the bytes its encoder writes (one encoding per value).
func FuzzStoredBytes(f *testing.F) {
	var sl slot
	sl[0] = byte(crypto.CHK)
	f.Add(byte(0), entry{seq: 7, area: AreaCache}.encode())
	f.Add(byte(1), ringEntry{protected: true, slot: sl}.encode())
	f.Add(byte(2), state{nextSeq: 9, hand: 3, store: areaCount{2, 2 * crypto.CHKBlockSize}, cache: areaCount{1, crypto.SSKBlockSize}}.encode())
	f.Add(byte(3), indexKey(0xbeef, 42))
	f.Add(byte(4), seqKey(1))
	f.Add(byte(5), sl[:])
	f.Add(byte(6), []byte{recordVersion, 0, 0, 0, 0, byte(crypto.SSK)})
	f.Fuzz(func(t *testing.T, which byte, b []byte) {
		var (
			again []byte
			err   error
		)
		switch which % 7 {
		case 0:
			var e entry
			if e, err = parseEntry(b); err == nil {
				again = e.encode()
			}
		case 1:
			var r ringEntry
			if r, err = parseRingEntry(b); err == nil {
				again = r.encode()
			}
		case 2:
			var s state
			if s, err = parseState(b); err == nil {
				again = s.encode()
			}
		case 3:
			var loc uint16
			var seq uint64
			if loc, seq, err = parseIndexKey(b); err == nil {
				again = indexKey(loc, seq)
			}
		case 4:
			var seq uint64
			if seq, err = parseSeqKey(b); err == nil {
				again = seqKey(seq)
			}
		case 5:
			var s slot
			if s, err = parseSlot(b); err == nil {
				again = s[:]
			}
		case 6:
			var r record
			if r, err = parseRecord(b); err == nil {
				if len(b) != recordSize(r.kt) || len(r.sealed) != int(blockSize(r.kt))+tagSize {
					t.Fatalf("accepted a %d-byte %v record", len(b), r.kt)
				}
				again = b
			}
		}
		if err != nil {
			if !errors.Is(err, errFormat) {
				t.Fatalf("rejected without errFormat: %v", err)
			}
			return
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("accepted %x, which encodes back as %x", b, again)
		}
	})
}

// FuzzDamagedRecord: a sealed record with arbitrary bytes changed, cut or extended either
// unseals to exactly the block that was sealed or is refused as damaged. Nothing else can
// come out of the store, and only a change confined to the CRC goes unnoticed by the seal.
func FuzzDamagedRecord(f *testing.F) {
	k := &keyer{salt: sha256.Sum256([]byte("fuzz salt"))}
	chk := newCHKBlock("fuzz", 0)
	ssk, err := newSSKBlock("fuzz", "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	blocks := []testBlock{chk, ssk}
	records := make([][]byte, len(blocks))
	for i, b := range blocks {
		v, err := k.seal(bytes.NewReader(make([]byte, nonceSize)), b.kt, b.rk, k.dbKey(b.kt, b.rk), b.block)
		if err != nil {
			f.Fatal(err)
		}
		records[i] = v
	}
	f.Add(byte(0), uint32(0), []byte{}, int32(0))
	f.Add(byte(1), uint32(recordOffNonce), []byte{1}, int32(0))
	f.Add(byte(0), uint32(recordHeaderSize+5), []byte{0x80, 0}, int32(0))
	f.Add(byte(1), uint32(0), []byte{}, int32(-1))
	f.Add(byte(0), uint32(0), []byte{}, int32(3))
	f.Add(byte(0), uint32(recordOffType), []byte{3}, int32(0))
	f.Fuzz(func(t *testing.T, which byte, at uint32, xor []byte, resize int32) {
		i := int(which) % len(blocks)
		b := blocks[i]
		v := bytes.Clone(records[i])
		for j, x := range xor {
			v[(int(at)+j)%len(v)] ^= x
		}
		switch {
		case resize < 0:
			v = v[:max(0, len(v)+int(resize%int32(len(v)+1)))]
		case resize > 0:
			v = append(v, make([]byte, resize%4096)...)
		}
		got, err := k.unseal(b.kt, b.rk, k.dbKey(b.kt, b.rk), v)
		if err != nil {
			if !errors.Is(err, errFormat) {
				t.Fatalf("refused without errFormat: %v", err)
			}
			return
		}
		if !bytes.Equal(got, b.block) {
			t.Fatal("a changed record unsealed to another block")
		}
		// Only the CRC may differ: it guards against damage for Check, which has no routing
		// key; the seal and the verification guard what Get serves.
		if len(v) != len(records[i]) || !bytes.Equal(v[:recordOffCRC], records[i][:recordOffCRC]) ||
			!bytes.Equal(v[recordOffType:], records[i][recordOffType:]) {
			t.Fatal("a changed record was accepted")
		}
	})
}
