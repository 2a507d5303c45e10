package crypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/cryptotest"
	"time"
)

func testTunnelKey(tb testing.TB, name string) *TunnelKey {
	tb.Helper()
	k, err := NewTunnelKey(seedFor("tunnel key " + name))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// TestTunnelHopKeys: both halves of the exchange derive the same four keys, distinct from each
// other; another node's key, or an altered encapsulation, derives others (X-Wing rejects
// implicitly: a wrong ciphertext gives unrelated keys, not an error).
func TestTunnelHopKeys(t *testing.T) {
	hop, other := testTunnelKey(t, "hop"), testTunnelKey(t, "other")
	enc, keys, err := EncapsulateTunnelHop(hop.Public())
	if err != nil {
		t.Fatal(err)
	}
	got, err := hop.DecapsulateTunnelHop(enc[:])
	if err != nil {
		t.Fatal(err)
	}
	if got != keys {
		t.Fatal("the hop derives other keys than the originator")
	}
	distinct := map[[KeySize]byte]bool{keys.ForwardLayer: true, keys.BackwardLayer: true, keys.ForwardEnd: true, keys.BackwardEnd: true}
	if len(distinct) != 4 {
		t.Error("two of a hop's four keys are equal")
	}
	if k, err := other.DecapsulateTunnelHop(enc[:]); err == nil && k == keys {
		t.Error("another node's key opens the encapsulation")
	}
	bad := enc
	bad[5] ^= 1 // in the ML-KEM ciphertext
	if k, err := hop.DecapsulateTunnelHop(bad[:]); err == nil && k == keys {
		t.Error("an altered encapsulation gives the same keys")
	}
	enc2, keys2, err := EncapsulateTunnelHop(hop.Public())
	if err != nil {
		t.Fatal(err)
	}
	if enc2 == enc || keys2 == keys {
		t.Error("two encapsulations to one key are equal: no fresh randomness")
	}
	for _, n := range []int{0, TunnelEncapsulationSize - 1, TunnelEncapsulationSize + 1} {
		if _, err := hop.DecapsulateTunnelHop(make([]byte, n)); !errors.Is(err, ErrTunnel) {
			t.Errorf("encapsulation of %d bytes: err %v, want ErrTunnel", n, err)
		}
	}
}

// TestTunnelAttestation: an attestation round-trips, and a change to any byte, or a wrong size,
// is refused.
func TestTunnelAttestation(t *testing.T) {
	id := NewNodeIdentity(seedFor("node a"))
	peer := NewNodeIdentity(seedFor("node b")).ID()
	notAfter := time.Unix(1_800_000_000, 0)
	a := SignTunnelAttestation(id, peer, notAfter.Add(700*time.Millisecond), testTunnelKey(t, "a").Public())
	if len(a.Bytes()) != TunnelAttestationSize {
		t.Fatalf("%d bytes, want %d", len(a.Bytes()), TunnelAttestationSize)
	}
	b, err := ParseTunnelAttestation(a.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if b.Signer != id.ID() || b.Peer != peer || !b.NotAfter.Equal(notAfter) || b.Key != a.Key || !bytes.Equal(b.Bytes(), a.Bytes()) {
		t.Errorf("parsed %+v, want %+v", b, a)
	}
	for _, at := range []int{0, 40, 70, 72, 1000, TunnelAttestationSize - 64, TunnelAttestationSize - 1} {
		bad := bytes.Clone(a.Bytes())
		bad[at] ^= 0x10
		if _, err := ParseTunnelAttestation(bad); err == nil {
			t.Errorf("a change at byte %d is accepted", at)
		}
	}
	for _, n := range []int{0, TunnelAttestationSize - 1, TunnelAttestationSize + 1} {
		if _, err := ParseTunnelAttestation(make([]byte, n)); !errors.Is(err, ErrTunnel) {
			t.Errorf("%d bytes: err %v, want ErrTunnel", n, err)
		}
	}
}

// onion is a test tunnel of n hops, as the originator and the hops each hold its keys.
type onion struct {
	keys []TunnelHopKeys
}

func newOnion(tb testing.TB, n int) onion {
	var o onion
	for i := range n {
		enc, keys, err := EncapsulateTunnelHop(testTunnelKey(tb, string(rune('a'+i))).Public())
		if err != nil {
			tb.Fatal(err)
		}
		if k, err := testTunnelKey(tb, string(rune('a'+i))).DecapsulateTunnelHop(enc[:]); err != nil || k != keys {
			tb.Fatal("hop keys differ", err)
		}
		o.keys = append(o.keys, keys)
	}
	return o
}

// forward is what the originator sends: sealed for the end, then every layer from the end's
// to the first hop's.
func (o onion) forward(seq uint64, content []byte) []byte {
	body := NewTunnelEnd(o.keys[len(o.keys)-1].ForwardEnd).Seal(nil, seq, content)
	for i := len(o.keys) - 1; i >= 0; i-- {
		NewTunnelLayer(o.keys[i].ForwardLayer).XOR(seq, body)
	}
	return body
}

// TestTunnelOnion carries a cell through three hops in each direction: every hop removes (or
// adds) its layer, only the end opens a forward cell and only the originator a backward one; a
// bit changed on the way makes the cell fail to open (tagging is caught at the end); a cell
// opened under the wrong sequence number fails too.
func TestTunnelOnion(t *testing.T) {
	o := newOnion(t, 3)
	for _, size := range []int{986, 32809} {
		content := testPayload(size)
		const seq = 0x7fff_0000_1234
		body := o.forward(seq, content)
		if len(body) != size+TunnelEndOverhead {
			t.Fatalf("sealed %d bytes, want %d", len(body), size+TunnelEndOverhead)
		}
		for i, k := range o.keys {
			NewTunnelLayer(k.ForwardLayer).XOR(seq, body)
			if i < len(o.keys)-1 {
				if _, err := NewTunnelEnd(k.ForwardEnd).Open(seq, bytes.Clone(body)); err == nil {
					t.Errorf("hop %d opens a cell meant for the end", i)
				}
			}
		}
		if _, err := NewTunnelEnd(o.keys[2].ForwardEnd).Open(seq+1, bytes.Clone(body)); err == nil {
			t.Error("a cell opens under another sequence number")
		}
		got, err := NewTunnelEnd(o.keys[2].ForwardEnd).Open(seq, body)
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("the end cannot open the cell: %v", err)
		}

		// Back: the end seals and adds its layer, every hop adds its own, the originator
		// removes them all.
		back := NewTunnelEnd(o.keys[2].BackwardEnd).Seal(nil, seq, content)
		for i := len(o.keys) - 1; i >= 0; i-- {
			NewTunnelLayer(o.keys[i].BackwardLayer).XOR(seq, back)
		}
		tagged := bytes.Clone(back)
		tagged[size/2] ^= 0x80
		for _, k := range o.keys {
			NewTunnelLayer(k.BackwardLayer).XOR(seq, back)
			NewTunnelLayer(k.BackwardLayer).XOR(seq, tagged)
		}
		if got, err := NewTunnelEnd(o.keys[2].BackwardEnd).Open(seq, back); err != nil || !bytes.Equal(got, content) {
			t.Fatalf("the originator cannot open the answer: %v", err)
		}
		if _, err := NewTunnelEnd(o.keys[2].BackwardEnd).Open(seq, tagged); !errors.Is(err, ErrTunnel) {
			t.Errorf("a tagged cell opens: %v", err)
		}
	}
	if _, err := NewTunnelEnd(o.keys[0].ForwardEnd).Open(1, make([]byte, TunnelEndOverhead-1)); !errors.Is(err, ErrTunnel) {
		t.Error("a body shorter than the tag is not refused")
	}
}

// TestTunnelLayerKeystream: a layer never repeats its keystream across sequence numbers, even
// for the longest body (the counter of the last AES block does not reach the sequence
// number's bytes).
func TestTunnelLayerKeystream(t *testing.T) {
	l := NewTunnelLayer(seedFor("layer"))
	const size = 32825
	a, b := make([]byte, size), make([]byte, size)
	l.XOR(1, a)
	l.XOR(2, b)
	blocks := map[[16]byte]bool{}
	for _, ks := range [][]byte{a, b} {
		for i := 0; i+16 <= size; i += 16 {
			var blk [16]byte
			copy(blk[:], ks[i:])
			if blocks[blk] {
				t.Fatalf("keystream block repeated at offset %d", i)
			}
			blocks[blk] = true
		}
	}
}

// Known answers (testdata/tunnel.json) pin spec §18.11's formats. The encapsulation is random
// when made, so the vector records one and checks what the hop derives from it.
type tunnelVectors struct {
	Note        string              `json:"note"`
	Keys        []tunnelKeyVector   `json:"tunnel_keys"`
	Hops        []tunnelHopVector   `json:"hop_keys"`
	Layers      []tunnelCellVector  `json:"layers"`
	Ends        []tunnelCellVector  `json:"end_seals"`
	Attestation []attestationVector `json:"attestations"`
}

type tunnelKeyVector struct {
	Seed            string `json:"seed"`
	PublicKeySHA256 string `json:"public_key_sha256"`
}

type tunnelHopVector struct {
	Seed          string `json:"seed"`
	Encapsulation string `json:"encapsulation"`
	ForwardLayer  string `json:"forward_layer"`
	BackwardLayer string `json:"backward_layer"`
	ForwardEnd    string `json:"forward_end"`
	BackwardEnd   string `json:"backward_end"`
}

type tunnelCellVector struct {
	Key    string `json:"key"`
	Seq    uint64 `json:"seq"`
	InLen  int    `json:"in_len"` // the input is testPayload(in_len)
	Output string `json:"output"`
}

type attestationVector struct {
	SignerSeed string `json:"signer_seed"`
	Peer       string `json:"peer"`
	NotAfter   int64  `json:"not_after"`
	KeySeed    string `json:"tunnel_key_seed"`
	Bytes      string `json:"attestation"`
}

func computeTunnelVectors(t *testing.T, have *tunnelVectors) tunnelVectors {
	v := tunnelVectors{Note: "Lethe tunnel known-answer vectors (docs/spec.md §18.11); inputs are testPayload(in_len) of crypto/chk_test.go."}
	for _, name := range []string{"a", "b"} {
		seed := seedFor("tunnel key " + name)
		k := testTunnelKey(t, name)
		pub := k.Public()
		sum := sha256.Sum256(pub[:])
		v.Keys = append(v.Keys, tunnelKeyVector{Seed: hex.EncodeToString(seed[:]), PublicKeySHA256: hex.EncodeToString(sum[:])})
	}
	for i, name := range []string{"a", "b"} {
		k := testTunnelKey(t, name)
		var enc []byte
		if have != nil && i < len(have.Hops) {
			enc, _ = hex.DecodeString(have.Hops[i].Encapsulation)
		} else {
			cryptotest.SetGlobalRandom(t, uint64(i+1))
			e, _, err := EncapsulateTunnelHop(k.Public())
			if err != nil {
				t.Fatal(err)
			}
			enc = e[:]
		}
		keys, err := k.DecapsulateTunnelHop(enc)
		if err != nil {
			t.Fatal(err)
		}
		seed := seedFor("tunnel key " + name)
		v.Hops = append(v.Hops, tunnelHopVector{Seed: hex.EncodeToString(seed[:]), Encapsulation: hex.EncodeToString(enc),
			ForwardLayer: hex.EncodeToString(keys.ForwardLayer[:]), BackwardLayer: hex.EncodeToString(keys.BackwardLayer[:]),
			ForwardEnd: hex.EncodeToString(keys.ForwardEnd[:]), BackwardEnd: hex.EncodeToString(keys.BackwardEnd[:])})
	}
	for _, c := range []struct {
		seq uint64
		n   int
	}{{0, 48}, {1<<63 - 1, 48}, {7, 33}} {
		key := seedFor("layer")
		in := testPayload(c.n)
		NewTunnelLayer(key).XOR(c.seq, in)
		v.Layers = append(v.Layers, tunnelCellVector{Key: hex.EncodeToString(key[:]), Seq: c.seq, InLen: c.n, Output: hex.EncodeToString(in)})
		key = seedFor("end")
		out := NewTunnelEnd(key).Seal(nil, c.seq, testPayload(c.n))
		v.Ends = append(v.Ends, tunnelCellVector{Key: hex.EncodeToString(key[:]), Seq: c.seq, InLen: c.n, Output: hex.EncodeToString(out)})
	}
	signer := seedFor("node a")
	peer := NewNodeIdentity(seedFor("node b")).ID()
	a := SignTunnelAttestation(NewNodeIdentity(signer), peer, time.Unix(1_800_000_000, 0), testTunnelKey(t, "a").Public())
	ks := seedFor("tunnel key a")
	v.Attestation = append(v.Attestation, attestationVector{SignerSeed: hex.EncodeToString(signer[:]), Peer: peer.String(),
		NotAfter: 1_800_000_000, KeySeed: hex.EncodeToString(ks[:]), Bytes: hex.EncodeToString(a.Bytes())})
	return v
}

func TestTunnelKnownAnswers(t *testing.T) {
	path := filepath.Join("testdata", "tunnel.json")
	var want tunnelVectors
	raw, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(raw, &want)
	}
	if *update {
		got := computeTunnelVectors(t, nil)
		enc, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(enc, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		want = got
	} else if err != nil {
		t.Fatalf("%v (run go test ./crypto -run TestTunnelKnownAnswers -update to create it)", err)
	}
	got := computeTunnelVectors(t, &want)
	for i := range want.Keys {
		if got.Keys[i] != want.Keys[i] {
			t.Errorf("tunnel key %d: got %+v, want %+v", i, got.Keys[i], want.Keys[i])
		}
	}
	for i := range want.Hops {
		if got.Hops[i] != want.Hops[i] {
			t.Errorf("hop keys %d: got %+v, want %+v", i, got.Hops[i], want.Hops[i])
		}
	}
	for i := range want.Layers {
		if got.Layers[i] != want.Layers[i] {
			t.Errorf("layer %d: got %+v, want %+v", i, got.Layers[i], want.Layers[i])
		}
		if got.Ends[i] != want.Ends[i] {
			t.Errorf("end seal %d: got %+v, want %+v", i, got.Ends[i], want.Ends[i])
		}
	}
	for i := range want.Attestation {
		if got.Attestation[i] != want.Attestation[i] {
			t.Errorf("attestation %d: got %+v, want %+v", i, got.Attestation[i], want.Attestation[i])
		}
	}
	// An independent check of the layer against the standard library's CTR, from its spec
	// definition: IV = seq ‖ 0⁸.
	key := seedFor("layer")
	blk, _ := aes.NewCipher(key[:])
	iv := make([]byte, 16)
	iv[7] = 7
	ref := testPayload(33)
	cipher.NewCTR(blk, iv).XORKeyStream(ref, ref)
	if hex.EncodeToString(ref) != want.Layers[2].Output {
		t.Error("the layer is not AES-256-CTR with IV seq ‖ 0⁸")
	}
}

// FuzzParseTunnelAttestation: any bytes either fail with ErrTunnel or parse to an attestation
// whose encoding is exactly the input.
func FuzzParseTunnelAttestation(f *testing.F) {
	a := SignTunnelAttestation(NewNodeIdentity(seedFor("node a")), NewNodeIdentity(seedFor("node b")).ID(),
		time.Unix(1_800_000_000, 0), testTunnelKey(f, "a").Public())
	f.Add(a.Bytes())
	f.Add(a.Bytes()[:100])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseTunnelAttestation(b)
		if err != nil {
			if !errors.Is(err, ErrTunnel) {
				t.Fatalf("error %v is not ErrTunnel", err)
			}
			return
		}
		if !bytes.Equal(got.Bytes(), b) {
			t.Fatal("parsed attestation does not encode to its input")
		}
	})
}

// FuzzDecapsulateTunnelHop: any bytes a peer sends as an encapsulation give keys or ErrTunnel,
// never a panic.
func FuzzDecapsulateTunnelHop(f *testing.F) {
	k := testTunnelKey(f, "a")
	enc, _, err := EncapsulateTunnelHop(k.Public())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc[:])
	f.Add(make([]byte, TunnelEncapsulationSize))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := k.DecapsulateTunnelHop(b); err != nil && !errors.Is(err, ErrTunnel) {
			t.Fatalf("error %v is not ErrTunnel", err)
		}
	})
}

// FuzzTunnelEndOpen: a body a peer made up never opens under a key it does not have, and
// never panics.
func FuzzTunnelEndOpen(f *testing.F) {
	e := NewTunnelEnd(seedFor("end"))
	f.Add(uint64(1), e.Seal(nil, 1, testPayload(40)))
	f.Add(uint64(0), []byte{})
	f.Fuzz(func(t *testing.T, seq uint64, body []byte) {
		want := e.Seal(nil, seq, testPayload(40))
		out, err := e.Open(seq, bytes.Clone(body))
		if err == nil && !bytes.Equal(body, want) {
			t.Fatalf("a made-up body opened: %x", out)
		}
	})
}

// BenchmarkTunnelBlockCell is the originator's work for one block-sized cell through three
// hops (seal for the end, three layers) and every hop's (a layer each, the end's open), beside
// the raw AES-256-GCM seal and open of the same bytes: the ratio is the cost of the layers.
func BenchmarkTunnelBlockCell(b *testing.B) {
	o := newOnion(b, 3)
	content := testPayload(32809)
	ends := []*TunnelEnd{NewTunnelEnd(o.keys[2].ForwardEnd)}
	var layers []*TunnelLayer
	for _, k := range o.keys {
		layers = append(layers, NewTunnelLayer(k.ForwardLayer))
	}
	body := make([]byte, 0, len(content)+TunnelEndOverhead)
	b.SetBytes(int64(len(content)))
	for b.Loop() {
		body = ends[0].Seal(body[:0], 9, content)
		for i := 2; i >= 0; i-- {
			layers[i].XOR(9, body)
		}
		for _, l := range layers {
			l.XOR(9, body)
		}
		if _, err := ends[0].Open(9, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawTunnelBlockCell(b *testing.B) {
	aead := newGCM(seedFor("raw"))
	content := testPayload(32809)
	nonce := make([]byte, 12)
	body := make([]byte, 0, len(content)+TunnelEndOverhead)
	b.SetBytes(int64(len(content)))
	for b.Loop() {
		body = aead.Seal(body[:0], nonce, content, nil)
		if _, err := aead.Open(body[:0], nonce, body, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTunnelHopExchange is one hop's key exchange, both halves (X-Wing encapsulation and
// decapsulation with four exports each).
func BenchmarkTunnelHopExchange(b *testing.B) {
	k := testTunnelKey(b, "a")
	for b.Loop() {
		enc, _, err := EncapsulateTunnelHop(k.Public())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := k.DecapsulateTunnelHop(enc[:]); err != nil {
			b.Fatal(err)
		}
	}
}
