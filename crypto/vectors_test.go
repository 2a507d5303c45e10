package crypto

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json from the current code")

// Known-answer vectors (testdata/vectors.json) pin the byte formats of docs/spec.md: another
// implementation that reproduces them interoperates with this one. Payloads are
// payload[i] = byte(31*i + n) for a payload of n bytes; keys and seeds are given in hex.
type vectors struct {
	Note     string        `json:"note"`
	CHK      []chkVector   `json:"chk"`
	SSK      []sskVector   `json:"ssk"`
	KSK      []kskVector   `json:"ksk"`
	Location []locVector   `json:"location"`
	Identity []identityVec `json:"node_identity"`
}

type chkVector struct {
	Name        string `json:"name"`
	PayloadLen  int    `json:"payload_len"`
	Convergent  bool   `json:"convergent"`
	CryptoKey   string `json:"crypto_key"`
	RoutingKey  string `json:"routing_key"`
	BlockPrefix string `json:"block_prefix"` // first 48 bytes of the block
	URI         string `json:"uri"`
}

type sskVector struct {
	Name        string `json:"name"`
	Seed        string `json:"seed"`
	CryptoKey   string `json:"crypto_key"`
	DocName     string `json:"doc_name"`
	PayloadLen  int    `json:"payload_len"`
	PubKeyHash  string `json:"public_key_hash"`
	RoutingKey  string `json:"routing_key"`
	BlockSHA256 string `json:"block_sha256"`
	InsertURI   string `json:"insert_uri"`
	RequestURI  string `json:"request_uri"`
}

type kskVector struct {
	Keyword    string `json:"keyword"`
	RoutingKey string `json:"routing_key"`
	PubKeyHash string `json:"public_key_hash"`
}

type locVector struct {
	RoutingKey string  `json:"routing_key"`
	Location   float64 `json:"location"`
}

type identityVec struct {
	Seed   string `json:"seed"`
	NodeID string `json:"node_id"`
}

func computeVectors(t *testing.T) vectors {
	v := vectors{Note: "Lethe crypto known-answer vectors; see docs/spec.md and crypto/vectors_test.go for how payloads are made."}
	for _, n := range []int{0, 1, CHKDataSize - 1, CHKDataSize} {
		for _, conv := range []bool{false, true} {
			name := sizeName(n)
			ck := seedFor("chk " + name)
			if conv {
				name += "/convergent"
				ck = ConvergentKey(testPayload(n))
			}
			block, key, err := EncodeCHKWithKey(testPayload(n), ck)
			if err != nil {
				t.Fatal(err)
			}
			u := RequestURI{Type: CHK, Key: key.Routing, Crypto: key.Crypto}
			v.CHK = append(v.CHK, chkVector{Name: name, PayloadLen: n, Convergent: conv,
				CryptoKey: hex.EncodeToString(ck[:]), RoutingKey: hex.EncodeToString(key.Routing[:]),
				BlockPrefix: hex.EncodeToString(block[:48]), URI: u.String()})
		}
	}
	for _, n := range []int{0, 1, SSKDataSize - 1, SSKDataSize} {
		name := sizeName(n)
		seed, ck := seedFor("ssk "+name), seedFor("ssk crypto "+name)
		ik := SSKInsertKey{Private: NewSSKPrivateKey(seed), Crypto: ck, DocName: "doc"}
		block, rk, err := ik.Encode(testPayload(n))
		if err != nil {
			t.Fatal(err)
		}
		ins := InsertURI{Type: SSK, Seed: seed, Crypto: ck, DocName: "doc"}
		req, _ := ins.RequestURI()
		pkh := ik.Private.Public().Hash()
		sum := sha256.Sum256(block)
		v.SSK = append(v.SSK, sskVector{Name: name, Seed: hex.EncodeToString(seed[:]), CryptoKey: hex.EncodeToString(ck[:]),
			DocName: "doc", PayloadLen: n, PubKeyHash: hex.EncodeToString(pkh[:]), RoutingKey: hex.EncodeToString(rk[:]),
			BlockSHA256: hex.EncodeToString(sum[:]), InsertURI: ins.String(), RequestURI: req.String()})
	}
	for _, w := range []string{"gpl.txt", "lethe test keyword", "página"} {
		rk := KSKInsertKey(w).RequestKey()
		r := rk.RoutingKey()
		v.KSK = append(v.KSK, kskVector{Keyword: w, RoutingKey: hex.EncodeToString(r[:]), PubKeyHash: hex.EncodeToString(rk.PubKeyHash[:])})
	}
	for _, b := range [][]byte{make([]byte, 32), {0x80}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0}} {
		var rk RoutingKey
		copy(rk[:], b)
		v.Location = append(v.Location, locVector{RoutingKey: hex.EncodeToString(rk[:]), Location: float64(rk.Location())})
	}
	for _, name := range []string{"node a", "node b"} {
		seed := seedFor(name)
		id := NewNodeIdentity(seed).ID()
		v.Identity = append(v.Identity, identityVec{Seed: hex.EncodeToString(seed[:]), NodeID: id.String()})
	}
	return v
}

func TestKnownAnswers(t *testing.T) {
	path := filepath.Join("testdata", "vectors.json")
	got := computeVectors(t)
	enc, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(path, append(enc, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./crypto -run TestKnownAnswers -update to create it)", err)
	}
	var want vectors
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	t.Run("chk", func(t *testing.T) {
		for i, w := range want.CHK {
			t.Run(w.Name, func(t *testing.T) {
				t.Parallel()
				if got.CHK[i] != w {
					t.Errorf("got %+v\nwant %+v", got.CHK[i], w)
				}
				// The vector's URI must decode the block the vector describes.
				u, err := ParseURI(w.URI)
				if err != nil {
					t.Fatal(err)
				}
				block, _, _ := EncodeCHKWithKey(testPayload(w.PayloadLen), u.Crypto)
				k, _ := u.CHKKey()
				if p, err := DecodeCHK(k, block); err != nil || len(p) != w.PayloadLen {
					t.Errorf("vector URI does not decode its block: %v", err)
				}
			})
		}
	})
	t.Run("ssk", func(t *testing.T) {
		for i, w := range want.SSK {
			t.Run(w.Name, func(t *testing.T) {
				t.Parallel()
				if got.SSK[i] != w {
					t.Errorf("got %+v\nwant %+v", got.SSK[i], w)
				}
			})
		}
	})
	t.Run("ksk", func(t *testing.T) {
		for i, w := range want.KSK {
			if got.KSK[i] != w {
				t.Errorf("got %+v\nwant %+v", got.KSK[i], w)
			}
		}
	})
	t.Run("location", func(t *testing.T) {
		for i, w := range want.Location {
			if got.Location[i] != w {
				t.Errorf("got %+v\nwant %+v", got.Location[i], w)
			}
		}
	})
	t.Run("node_identity", func(t *testing.T) {
		for i, w := range want.Identity {
			if got.Identity[i] != w {
				t.Errorf("got %+v\nwant %+v", got.Identity[i], w)
			}
		}
	})
}
