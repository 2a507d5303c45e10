package wire

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"math"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"lethe/crypto"
)

func testIdentity(tb testing.TB, name string) *crypto.NodeIdentity {
	tb.Helper()
	return crypto.NewNodeIdentity(sha256.Sum256([]byte("lethe wire test " + name)))
}

func testRef(tb testing.TB, name string, info NodeRefInfo) *NodeRef {
	tb.Helper()
	r, err := NewNodeRef(testIdentity(tb, name), info)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// largestRef is a noderef within a few bytes of MaxNodeRefSize: four addresses with host
// names as long as the limit allows.
func largestRef(tb testing.TB) *NodeRef {
	tb.Helper()
	hostOf := func(n int) string { // a valid host name of n bytes
		var labels []string
		for n > 0 {
			l := min(n, 63)
			if n-l == 1 { // leave room for the dot and a label
				l--
			}
			labels = append(labels, strings.Repeat("h", l))
			n -= l + 1
		}
		return strings.Join(labels, ".")
	}
	for n := maxHostName; n > 0; n-- {
		info := NodeRefInfo{WithLocation: true, Location: 0.12345678901234567}
		for i := range MaxAddresses {
			info.Addresses = append(info.Addresses, string(rune('a'+i))+"."+hostOf(n-2)+":65535")
		}
		r, err := NewNodeRef(testIdentity(tb, "largest"), info)
		if err == nil {
			if MaxNodeRefSize-len(r.Text()) > 4 {
				tb.Fatalf("largest test noderef is %d bytes, want close to %d", len(r.Text()), MaxNodeRefSize)
			}
			return r
		}
	}
	tb.Fatal("no noderef with four addresses fits MaxNodeRefSize")
	return nil
}

func testBlock(k crypto.KeyType) []byte {
	b := make([]byte, k.BlockSize())
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

func testLocations(n int) []crypto.Location {
	ls := make([]crypto.Location, n)
	for i := range ls {
		ls[i] = crypto.Location(float64(i) / float64(n+1))
	}
	return ls
}

// sampleMessages has one message of every type, the small ones at their largest.
func sampleMessages(tb testing.TB) []Message {
	tb.Helper()
	ref := largestRef(tb)
	key := crypto.RoutingKey(sha256.Sum256([]byte("key")))
	return append([]Message{
		&Hello{MinVersion: 1, MaxVersion: 1, Ref: ref},
		&Keepalive{},
		&Request{KeyType: crypto.CHK, ID: 1, HTL: MaxHTL, Stem: 77, Key: key, Timeout: 90 * time.Second},
		&Request{KeyType: crypto.SSK, ID: math.MaxUint64, HTL: 0, Key: key, Timeout: MaxTimeout},
		&Insert{KeyType: crypto.CHK, ID: 3, HTL: 17, Key: key, Timeout: time.Millisecond, Block: testBlock(crypto.CHK)},
		&Insert{KeyType: crypto.SSK, ID: 4, HTL: 1, Tail: true, Key: key, Timeout: time.Minute, Block: testBlock(crypto.SSK)},
		&DataReply{KeyType: crypto.CHK, ID: 5, Block: testBlock(crypto.CHK)},
		&DataReply{KeyType: crypto.SSK, ID: 6, Block: testBlock(crypto.SSK)},
		&Accepted{ID: 7},
		&InsertReply{ID: 8},
		&InsertCollision{ID: 9, Block: testBlock(crypto.SSK)},
		&DataNotFound{ID: 10},
		&RouteNotFound{ID: 11, HTL: 5},
		&RejectedLoop{ID: 12},
		&RejectedOverload{ID: 13},
		&NodeRefOffer{ID: 14, Ref: ref},
		&Announcement{ID: 15, HTL: MaxHTL, Target: 0.75, Ref: ref},
		&AnnouncementReply{ID: 16, Ref: ref},
		&SwapRequest{ID: 17, HTL: 10, Commitment: sha256.Sum256([]byte("r"))},
		&SwapReply{ID: 18, Random: sha256.Sum256([]byte("b")), Location: 0.5, PeerLocations: testLocations(MaxPeerLocations)},
		&SwapCommit{ID: 19, Random: sha256.Sum256([]byte("a")), Location: 0, PeerLocations: testLocations(MaxPeerLocations)},
		&LocationUpdate{Location: 0.999, PeerLocations: testLocations(MaxPeerLocations)},
		&LocationUpdate{Location: 0.25},
		&OfferKey{KeyType: crypto.SSK, Key: key},
		&ObservedAddress{Addr: netip.MustParseAddrPort("198.51.100.7:41000")},
		&ObservedAddress{Addr: netip.MustParseAddrPort("[2001:db8::1]:1")},
		&NodeRefUpdate{Ref: ref},
		&PunchRequest{Peer: crypto.NodeID(key)},
		&PunchIntro{Peer: crypto.NodeID(key), Addr: netip.MustParseAddrPort("[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:65535")},
	}, tunnelSamples(tb)...)
}

func TestRoundTrip(t *testing.T) {
	seen := map[Type]bool{}
	for _, m := range sampleMessages(t) {
		t.Run(m.Type().String(), func(t *testing.T) {
			b, err := Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			seen[m.Type()] = true
			got, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("Decode(Encode(m)) = %+v, want %+v", got, m)
			}
			if _, carriesBlock := m.(interface{ blockMessage() }); !carriesBlock && len(b) > MaxSmallMessage {
				t.Errorf("%v encodes to %d bytes, above MaxSmallMessage %d", m.Type(), len(b), MaxSmallMessage)
			}
			if len(b) > MaxMessageSize {
				t.Errorf("%v encodes to %d bytes, above MaxMessageSize %d", m.Type(), len(b), MaxMessageSize)
			}
		})
	}
	for t2 := range typeNames {
		if !seen[t2] {
			t.Errorf("no sample message of type %v", t2)
		}
	}
}

// The block-carrying messages are the only ones allowed past MaxSmallMessage.
func (*Insert) blockMessage()          {}
func (*DataReply) blockMessage()       {}
func (*InsertCollision) blockMessage() {}

func TestMaxMessageSize(t *testing.T) {
	b, err := Encode(&Insert{KeyType: crypto.CHK, HTL: 1, Timeout: time.Second, Block: testBlock(crypto.CHK)})
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != MaxMessageSize {
		t.Errorf("a CHK insert is %d bytes, MaxMessageSize is %d", len(b), MaxMessageSize)
	}
	if _, err := Decode(append(b, 0)); !errors.Is(err, ErrMalformed) {
		t.Errorf("a message one byte over the limit decoded: %v", err)
	}
}

func TestEncodeRefusesInvalid(t *testing.T) {
	key := crypto.RoutingKey{1}
	for name, m := range map[string]Message{
		"nil":                 nil,
		"HTL above max":       &Request{KeyType: crypto.CHK, HTL: MaxHTL + 1, Key: key, Timeout: time.Second},
		"key type KSK":        &Request{KeyType: crypto.KSK, HTL: 1, Key: key, Timeout: time.Second},
		"zero timeout":        &Request{KeyType: crypto.CHK, HTL: 1, Key: key},
		"sub-ms timeout":      &Request{KeyType: crypto.CHK, HTL: 1, Key: key, Timeout: time.Microsecond},
		"timeout above max":   &Request{KeyType: crypto.CHK, HTL: 1, Key: key, Timeout: MaxTimeout + time.Millisecond},
		"short CHK block":     &DataReply{KeyType: crypto.CHK, Block: make([]byte, crypto.CHKBlockSize-1)},
		"SSK block as CHK":    &Insert{KeyType: crypto.CHK, HTL: 1, Timeout: time.Second, Block: testBlock(crypto.SSK)},
		"collision CHK block": &InsertCollision{Block: testBlock(crypto.CHK)},
		"no noderef":          &NodeRefOffer{ID: 1},
		"location 1":          &LocationUpdate{Location: 1},
		"location -0":         &LocationUpdate{Location: crypto.Location(math.Copysign(0, -1))},
		"location NaN":        &SwapReply{Location: crypto.Location(math.NaN())},
		"too many locations":  &LocationUpdate{PeerLocations: testLocations(MaxPeerLocations + 1)},
		"hello version 0":     &Hello{Ref: testRef(t, "hello", NodeRefInfo{})},
		"offer key USK":       &OfferKey{KeyType: crypto.USK},
	} {
		if b, err := Encode(m); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Encode = %x, %v; want ErrMalformed", name, b, err)
		}
	}
}

func TestDecodeRefusesMalformed(t *testing.T) {
	req := mustEncode(t, &Request{KeyType: crypto.CHK, ID: 1, HTL: 3, Key: crypto.RoutingKey{9}, Timeout: time.Second})
	loc := mustEncode(t, &LocationUpdate{Location: 0.5, PeerLocations: testLocations(2)})
	ref := mustEncode(t, &NodeRefOffer{ID: 1, Ref: testRef(t, "offer", NodeRefInfo{Addresses: []string{"192.0.2.1:1"}})})
	patch := func(b []byte, i int, v ...byte) []byte {
		b = bytes.Clone(b)
		copy(b[i:], v)
		return b
	}
	for name, b := range map[string][]byte{
		"empty":               {},
		"unknown type":        {0xff},
		"type zero":           {0},
		"truncated":           req[:len(req)-1],
		"trailing byte":       append(bytes.Clone(req), 0),
		"HTL 19":              patch(req, 9, MaxHTL+1),
		"timeout 0":           patch(req, 51, 0, 0, 0, 0),
		"timeout above max":   patch(req, 51, 0xff, 0xff, 0xff, 0xff),
		"stem tag below 18":   patch(req, 11, 1),
		"unknown flag":        patch(req, 10, 0x02),
		"location 1.0":        patch(loc, 1, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0),
		"negative zero":       patch(loc, 1, 0x80, 0, 0, 0, 0, 0, 0, 0),
		"list count too big":  patch(loc, 9, MaxPeerLocations+1),
		"list count past end": patch(loc, 9, 3),
		"noderef length past": patch(ref, 9, 0x03, 0x00),
		"noderef too long":    patch(ref, 9, 0xff, 0xff),
		"noderef edited":      patch(ref, bytes.Index(ref, []byte("192.0.2.1")), '8'),
		"offer key type 3":    {byte(TypeOfferKey), 3, 31: 0, 32: 0, 33: 0},
		"hello versions 2..1": patch(mustEncode(t, &Hello{MinVersion: 1, MaxVersion: 1, Ref: testRef(t, "h", NodeRefInfo{})}), 1, 2),
		"keepalive with body": {byte(TypeKeepalive), 0},
		"address family 5":    {byte(TypeObservedAddress), 5, 1, 2, 3, 4, 0, 1},
		"address port 0":      {byte(TypeObservedAddress), 4, 1, 2, 3, 4, 0, 0},
		"address unspecified": {byte(TypeObservedAddress), 4, 0, 0, 0, 0, 0, 1},
		"address v4 in v6":    {byte(TypeObservedAddress), 6, 10: 0xff, 11: 0xff, 12: 1, 13: 2, 14: 3, 15: 4, 16: 0, 17: 1},
		"address truncated":   {byte(TypeObservedAddress), 6, 1, 2, 3, 4, 0, 1},
		"punch request short": {byte(TypePunchRequest), 1, 2, 3},
	} {
		if m, err := Decode(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Decode = %+v, %v; want ErrMalformed", name, m, err)
		}
	}
}

func mustEncode(tb testing.TB, m Message) []byte {
	tb.Helper()
	b, err := Encode(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestErrorReplyPair(t *testing.T) {
	block := testBlock(crypto.SSK)
	for _, tc := range []struct {
		err  error
		want Message
	}{
		{ErrDataNotFound, &DataNotFound{ID: 1}},
		{&RouteNotFoundError{HTL: 7}, &RouteNotFound{ID: 1, HTL: 7}},
		{ErrRejectedLoop, &RejectedLoop{ID: 1}},
		{ErrOverloaded, &RejectedOverload{ID: 1}},
		{&CollisionError{Existing: block}, &InsertCollision{ID: 1, Block: block}},
	} {
		m, ok := ErrorReply(1, tc.err)
		if !ok || !reflect.DeepEqual(m, tc.want) {
			t.Errorf("ErrorReply(%v) = %+v, %v; want %+v", tc.err, m, ok, tc.want)
			continue
		}
		back := ReplyError(m)
		if !errors.Is(back, tc.err) && !reflect.DeepEqual(back, tc.err) {
			t.Errorf("ReplyError(ErrorReply(%v)) = %v", tc.err, back)
		}
	}
	if m, ok := ErrorReply(1, fmtWrap(ErrRouteNotFound)); !ok || m.(*RouteNotFound).HTL != 0 {
		t.Errorf("wrapped ErrRouteNotFound gave %+v, %v", m, ok)
	}
	if !errors.Is(ReplyError(&InsertCollision{Block: block}), crypto.ErrCollision) {
		t.Error("a collision reply is not crypto.ErrCollision")
	}
	if _, ok := ErrorReply(1, errors.New("disk full")); ok {
		t.Error("an unrelated error became a failure reply")
	}
	if err := ReplyError(&Accepted{ID: 1}); err != nil {
		t.Errorf("ReplyError(Accepted) = %v, want nil", err)
	}
}

func fmtWrap(err error) error { return errors.Join(errors.New("context"), err) }

// FuzzDecode: every input either fails with ErrMalformed or decodes to a message whose
// encoding is exactly the input (one encoding per message), without panicking.
func FuzzDecode(f *testing.F) {
	for _, m := range sampleMessages(f) {
		f.Add(mustEncode(f, m))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode error %v is not ErrMalformed", err)
			}
			return
		}
		again, err := Encode(m)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", m, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("Encode(Decode(b)) = %x, want %x", again, b)
		}
		shared, err := DecodeShared(bytes.Clone(b))
		if err != nil || !reflect.DeepEqual(shared, m) {
			t.Fatalf("DecodeShared differs from Decode: %+v, %v", shared, err)
		}
	})
}

func TestInsertUnknownFlags(t *testing.T) {
	b, err := Encode(&Insert{KeyType: crypto.CHK, ID: 1, HTL: 3, Tail: true, Timeout: time.Second, Block: testBlock(crypto.CHK)})
	if err != nil {
		t.Fatal(err)
	}
	b[10] |= 0x02 // type, ID (8), HTL, then the flags
	if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
		t.Errorf("an insert with an unknown flag bit: err = %v, want ErrMalformed", err)
	}
}
