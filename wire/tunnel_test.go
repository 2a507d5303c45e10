package wire

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"reflect"
	"testing"
	"time"

	"lethe/crypto"
)

func testTunnelKey(tb testing.TB, name string) *crypto.TunnelKey {
	tb.Helper()
	k, err := crypto.NewTunnelKey(sha256.Sum256([]byte("lethe wire test tunnel key " + name)))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func testAttestation(tb testing.TB, signer, peer string) *crypto.TunnelAttestation {
	tb.Helper()
	return crypto.SignTunnelAttestation(testIdentity(tb, signer), testIdentity(tb, peer).ID(),
		time.Unix(1_800_000_000, 0), testTunnelKey(tb, signer).Public())
}

func testEnc(tb testing.TB) (enc [crypto.TunnelEncapsulationSize]byte) {
	tb.Helper()
	enc, _, err := crypto.EncapsulateTunnelHop(testTunnelKey(tb, "hop").Public())
	if err != nil {
		tb.Fatal(err)
	}
	return enc
}

// tunnelSamples are the tunnel link messages, for the tests and fuzz seeds of wire_test.go.
func tunnelSamples(tb testing.TB) []Message {
	tb.Helper()
	body := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i * 7)
		}
		return b
	}
	return []Message{
		&TunnelKey{Attestation: testAttestation(tb, "a", "b")},
		&TunnelCreate{Circuit: 1, Seq: 1<<63 - 1, Enc: testEnc(tb)},
		&TunnelCell{Circuit: 2, Seq: 3, Body: body(TunnelCellBody)},
		&TunnelCell{Circuit: 1<<64 - 1, Back: true, Seq: 0, Body: body(TunnelBlockCellBody)},
		&TunnelDestroy{Circuit: 4, Back: true, Reason: DestroyLinkLost},
	}
}

// TunnelKey and TunnelCreate carry an attestation or an encapsulation, each longer than a
// small frame holds; they go in one large frame, as an SSK block does (spec §11.2).
func (*TunnelKey) blockMessage()    {}
func (*TunnelCreate) blockMessage() {}
func (*TunnelCell) blockMessage()   {} // TestTunnelCellSizes checks both sizes

// TestTunnelCellSizes: a small cell fills a small frame exactly, a block cell is as long as a
// CHK insert, and a body of any other size does not encode.
func TestTunnelCellSizes(t *testing.T) {
	for _, c := range []struct {
		body, want int
	}{{TunnelCellBody, MaxSmallMessage}, {TunnelBlockCellBody, MaxMessageSize}} {
		b, err := Encode(&TunnelCell{Circuit: 1, Body: make([]byte, c.body)})
		if err != nil || len(b) != c.want {
			t.Errorf("cell with a %d-byte body: %d bytes, %v; want %d", c.body, len(b), err, c.want)
		}
	}
	for _, n := range []int{0, TunnelCellBody - 1, TunnelCellBody + 1, TunnelBlockCellBody - 1} {
		if _, err := Encode(&TunnelCell{Body: make([]byte, n)}); !errors.Is(err, ErrMalformed) {
			t.Errorf("a %d-byte body encodes: %v", n, err)
		}
	}
	good, _ := Encode(&TunnelCell{Body: make([]byte, TunnelCellBody)})
	for _, bad := range [][]byte{good[:len(good)-1], append(bytes.Clone(good), 0)} {
		if _, err := Decode(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("a cell of %d bytes decodes", len(bad))
		}
	}
	flagged := bytes.Clone(good)
	flagged[9] = 0x02 // type, circuit (8), then the flags
	if _, err := Decode(flagged); !errors.Is(err, ErrMalformed) {
		t.Error("a cell with an unknown flag bit decodes")
	}
	if MaxTunnelPeers < 20 {
		t.Errorf("a Created holds %d attestations, fewer than the default MaxPeers", MaxTunnelPeers)
	}
}

// TestTunnelKeyVerifies: a TunnelKey whose attestation was altered does not decode.
func TestTunnelKeyVerifies(t *testing.T) {
	b := mustEncode(t, &TunnelKey{Attestation: testAttestation(t, "a", "b")})
	b[100] ^= 1
	if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
		t.Errorf("an altered attestation decodes: %v", err)
	}
}

func innerSamples(tb testing.TB) []TunnelInner {
	tb.Helper()
	key := crypto.RoutingKey(sha256.Sum256([]byte("key")))
	var peers []*crypto.TunnelAttestation
	for range MaxTunnelPeers {
		peers = append(peers, testAttestation(tb, "a", "b"))
	}
	return []TunnelInner{
		&TunnelExtend{Node: testIdentity(tb, "m").ID(), Enc: testEnc(tb)},
		&TunnelRequest{ID: 1, KeyType: crypto.CHK, Key: key},
		&TunnelRequest{ID: 1<<64 - 1, KeyType: crypto.SSK, Key: key},
		&TunnelInsert{ID: 2, KeyType: crypto.CHK, Block: testBlock(crypto.CHK)},
		&TunnelInsert{ID: 3, KeyType: crypto.SSK, Block: testBlock(crypto.SSK)},
		&TunnelCreated{},
		&TunnelCreated{Peers: peers},
		&TunnelData{ID: 4, KeyType: crypto.CHK, Block: testBlock(crypto.CHK)},
		&TunnelData{ID: 5, KeyType: crypto.SSK, Block: testBlock(crypto.SSK)},
		&TunnelResult{ID: 6, Code: ResultDataNotFound},
		&TunnelResult{ID: 7, Code: ResultInserted},
		&TunnelCollision{ID: 8, Block: testBlock(crypto.SSK)},
	}
}

func isBack(m TunnelInner) bool { return m.innerType()&innerBack != 0 }

// TestTunnelInnerRoundTrip: every inner message fills its cell's content exactly and decodes
// to itself in its own direction, and is refused in the other.
func TestTunnelInnerRoundTrip(t *testing.T) {
	for _, m := range innerSamples(t) {
		b, err := EncodeTunnelInner(m)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		want := TunnelCellContent
		if m.BlockCell() {
			want = TunnelBlockCellContent
		}
		if len(b) != want {
			t.Errorf("%T: %d bytes, want %d", m, len(b), want)
		}
		got, err := DecodeTunnelInner(b, isBack(m))
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		if cr, ok := m.(*TunnelCreated); ok && len(cr.Peers) == 0 {
			cr.Peers = nil
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("%T: decoded %+v", m, got)
		}
		if _, err := DecodeTunnelInner(b, !isBack(m)); !errors.Is(err, ErrMalformedInner) {
			t.Errorf("%T decodes travelling the wrong way: %v", m, err)
		}
	}
}

// TestTunnelInnerRefuses: the content rules of spec §18.11.5.
func TestTunnelInnerRefuses(t *testing.T) {
	req, _ := EncodeTunnelInner(&TunnelRequest{ID: 1, KeyType: crypto.CHK})
	data, _ := EncodeTunnelInner(&TunnelData{ID: 1, KeyType: crypto.CHK, Block: testBlock(crypto.CHK)})
	set := func(b []byte, i int, v byte) []byte { b = bytes.Clone(b); b[i] = v; return b }
	for name, c := range map[string]struct {
		b    []byte
		back bool
	}{
		"padding not zero":        {set(req, len(req)-1, 1), false},
		"key type 3":              {set(req, 9, 3), false},
		"unknown type":            {set(req, 0, 0x05), false},
		"request in a block cell": {append(bytes.Clone(req), make([]byte, TunnelBlockCellContent-TunnelCellContent)...), false},
		"data in a small cell":    {data[:TunnelCellContent], true},
		"result code 0":           {set(mustInner(t, &TunnelResult{ID: 1, Code: ResultInserted}), 9, 0), true},
		"too many attestations":   {set(mustInner(t, &TunnelCreated{}), 1, byte(MaxTunnelPeers+1)), true},
		"empty":                   {nil, false},
	} {
		if _, err := DecodeTunnelInner(c.b, c.back); !errors.Is(err, ErrMalformedInner) {
			t.Errorf("%s: err %v, want ErrMalformedInner", name, err)
		}
	}
	for _, m := range []TunnelInner{
		&TunnelRequest{KeyType: 0}, &TunnelInsert{KeyType: crypto.CHK, Block: testBlock(crypto.SSK)},
		&TunnelResult{Code: 5}, &TunnelCreated{Peers: make([]*crypto.TunnelAttestation, MaxTunnelPeers+1)},
		&TunnelCreated{Peers: []*crypto.TunnelAttestation{nil}}, nil,
	} {
		if _, err := EncodeTunnelInner(m); !errors.Is(err, ErrMalformedInner) {
			t.Errorf("%#v encodes: %v", m, err)
		}
	}
}

func mustInner(tb testing.TB, m TunnelInner) []byte {
	tb.Helper()
	b, err := EncodeTunnelInner(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzDecodeTunnelInner: any content either fails with ErrMalformedInner or decodes to a
// message that encodes back to exactly the content.
func FuzzDecodeTunnelInner(f *testing.F) {
	for _, m := range innerSamples(f) {
		f.Add(mustInner(f, m), isBack(m))
	}
	f.Fuzz(func(t *testing.T, b []byte, back bool) {
		m, err := DecodeTunnelInner(b, back)
		if err != nil {
			if !errors.Is(err, ErrMalformedInner) {
				t.Fatalf("error %v is not ErrMalformedInner", err)
			}
			return
		}
		again, err := EncodeTunnelInner(m)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", m, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatal("EncodeTunnelInner(DecodeTunnelInner(b)) differs from b")
		}
	})
}

// TestEncodeTunnelInnerInReusedBuffer: a cell's content encoded into a buffer that held an
// earlier cell is the same as one encoded afresh: nothing of the old cell is left in the
// padding, which an end refuses if it is not zero.
func TestEncodeTunnelInnerInReusedBuffer(t *testing.T) {
	for _, m := range []TunnelInner{
		&TunnelResult{ID: 9, Code: ResultInserted},
		&TunnelData{ID: 10, KeyType: crypto.CHK, Block: bytes.Repeat([]byte{1}, crypto.CHKBlockSize)},
	} {
		fresh, err := EncodeTunnelInner(m)
		if err != nil {
			t.Fatal(err)
		}
		buf := bytes.Repeat([]byte{0xff}, TunnelBlockCellBody)
		reused, err := EncodeTunnelInnerIn(buf[:0], m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(reused, fresh) {
			t.Errorf("%T encoded into a used buffer differs from its fresh encoding", m)
		}
		if &reused[0] != &buf[0] {
			t.Errorf("%T: the buffer given was not used", m)
		}
		if _, err := DecodeTunnelInner(reused, true); err != nil {
			t.Errorf("%T from a used buffer does not decode: %v", m, err)
		}
	}
}
