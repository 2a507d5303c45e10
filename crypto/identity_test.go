package crypto

import (
	"crypto/rand"
	"math"
	"testing"
)

func TestLocation(t *testing.T) {
	var zero, half, top RoutingKey
	half[0] = 0x80
	for i := range 8 {
		top[i] = 0xff
	}
	if zero.Location() != 0 || half.Location() != 0.5 {
		t.Errorf("locations %v %v, want 0 and 0.5", zero.Location(), half.Location())
	}
	if l := top.Location(); !l.Valid() || l >= 1 {
		t.Errorf("the largest key has location %v, want < 1", l)
	}
	for _, tc := range []struct{ a, b, want float64 }{
		{0.1, 0.2, 0.1}, {0.9, 0.1, 0.2}, {0, 0.5, 0.5}, {0.25, 0.25, 0},
	} {
		if got := Location(tc.a).Distance(Location(tc.b)); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("Distance(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
	for _, l := range []Location{-0.1, 1, Location(math.NaN()), Location(math.Inf(1))} {
		if l.Valid() {
			t.Errorf("%v reported as a valid location", l)
		}
	}
}

func TestNodeIdentity(t *testing.T) {
	n, err := GenerateNodeIdentity(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if NewNodeIdentity(n.Seed()).ID() != n.ID() {
		t.Fatal("identity rebuilt from its seed has another ID")
	}
	body := []byte("noderef body")
	sig := n.SignNodeRef(body)
	if !n.ID().VerifyNodeRef(body, sig) {
		t.Fatal("noderef signature does not verify")
	}
	if n.ID().VerifyNodeRef([]byte("noderef bodY"), sig) {
		t.Error("signature verified over an edited body")
	}
	other, _ := GenerateNodeIdentity(rand.Reader)
	if other.ID().VerifyNodeRef(body, sig) {
		t.Error("signature verified under another identity")
	}
	if n.ID().VerifyNodeRef(body, sig[:10]) {
		t.Error("truncated signature verified")
	}
	id, err := ParseNodeID(n.ID().String())
	if err != nil || id != n.ID() {
		t.Errorf("ParseNodeID round trip: %v", err)
	}
	if _, err := ParseNodeID(n.ID().String()[1:]); err == nil {
		t.Error("a short node ID parsed")
	}
}
