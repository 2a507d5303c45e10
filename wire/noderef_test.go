package wire

import (
	"errors"
	"strings"
	"testing"

	"lethe/crypto"
)

func TestNodeRefText(t *testing.T) {
	id := testIdentity(t, "friend")
	r, err := NewNodeRef(id, NodeRefInfo{
		Addresses:     []string{"192.0.2.7:41000", "[2001:db8::7]:41000", "node.example.org:41000"},
		QUICAddresses: []string{"192.0.2.7:41000", "198.51.100.9:5000"},
		Location:      0.3183098861837907,
		WithLocation:  true,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "lethe-noderef v1\n" +
		"id " + id.ID().String() + "\n" +
		"protocol 1 1\n" +
		"address 192.0.2.7:41000\n" +
		"address [2001:db8::7]:41000\n" +
		"address node.example.org:41000\n" +
		"quic 192.0.2.7:41000\n" +
		"quic 198.51.100.9:5000\n" +
		"location 0.3183098861837907\n" +
		"signature "
	if !strings.HasPrefix(r.Text(), want) {
		t.Fatalf("noderef text:\n%s\nwant it to start with:\n%s", r.Text(), want)
	}
	got, err := ParseNodeRef(r.Text())
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(r) || got.ID() != id.ID() {
		t.Fatalf("parsed noderef differs:\n%s", got.Text())
	}
	if l, ok := got.Location(); !ok || l != 0.3183098861837907 {
		t.Errorf("location = %v, %v", l, ok)
	}
	if lo, hi := got.Versions(); lo != MinVersion || hi != MaxVersion {
		t.Errorf("versions %d..%d", lo, hi)
	}
	if a := got.Addresses(); len(a) != 3 || a[2] != "node.example.org:41000" {
		t.Errorf("addresses %q", a)
	}
	if a := got.QUICAddresses(); len(a) != 2 || a[1] != "198.51.100.9:5000" {
		t.Errorf("QUIC addresses %q", a)
	}

	// What mail and chat do to pasted text is tolerated.
	pasted := "\n\n  " + strings.ReplaceAll(r.Text(), "\n", "\r\n") + "  \n"
	if got, err := ParseNodeRef(pasted); err != nil || !got.Equal(r) {
		t.Errorf("pasted noderef: %v", err)
	}
}

func TestNodeRefWithoutLocationOrAddresses(t *testing.T) {
	r := testRef(t, "stranger", NodeRefInfo{})
	got, err := ParseNodeRef(r.Text())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Location(); ok {
		t.Error("a noderef without location parsed with one")
	}
	if len(got.Addresses()) != 0 {
		t.Error("a noderef without addresses parsed with some")
	}
}

// Any edit of a noderef's text is refused: either the line no longer parses in its canonical
// form, or the signature fails.
func TestNodeRefEdited(t *testing.T) {
	r := testRef(t, "edited", NodeRefInfo{Addresses: []string{"192.0.2.7:41000"}, Location: 0.5, WithLocation: true})
	text := r.Text()
	// Parse the genuine text first, so that its verified signature is remembered: an edit
	// must still fail.
	if _, err := ParseNodeRef(text); err != nil {
		t.Fatal(err)
	}
	for i := range len(text) - 1 { // the final line end is restored by the parser
		for _, c := range []byte{'0', '9', 'a', 'Z', ' ', '\n', '.'} {
			if text[i] == c {
				continue
			}
			edited := text[:i] + string(c) + text[i+1:]
			if _, err := ParseNodeRef(edited); err == nil {
				t.Fatalf("edit at byte %d to %q accepted:\n%s", i, c, edited)
			}
		}
	}
	swapped := strings.Replace(text, "0.5", "0.25", 1)
	if _, err := ParseNodeRef(swapped); !errors.Is(err, ErrNodeRefSignature) {
		t.Errorf("a changed location: err = %v, want ErrNodeRefSignature", err)
	}
	other := testIdentity(t, "impostor").ID().String()
	stolen := strings.Replace(text, r.ID().String(), other, 1)
	if _, err := ParseNodeRef(stolen); !errors.Is(err, ErrNodeRefSignature) {
		t.Errorf("another node's ID: err = %v, want ErrNodeRefSignature", err)
	}
}

func TestNodeRefAddresses(t *testing.T) {
	id := testIdentity(t, "addresses")
	for _, a := range []string{
		"192.0.2.1:1", "[2001:db8::1]:65535", "a.b:80", "xn--bcher-kva.example:443", "localhost:9000",
		"h" + strings.Repeat(".h", 126) + ":1",
	} {
		if _, err := NewNodeRef(id, NodeRefInfo{Addresses: []string{a}}); err != nil {
			t.Errorf("address %q refused: %v", a, err)
		}
	}
	for _, a := range []string{
		"", "192.0.2.1", "192.0.2.1:0", "192.0.2.1:65536", "192.0.2.1:080", "[2001:DB8::1]:1",
		"[2001:db8:0::1]:1", "[::ffff:192.0.2.1]:1", "[fe80::1%eth0]:1", "2001:db8::1:1",
		"Example.org:1", "example.org.:1", "-a.example:1", "a..b:1", "a_b.example:1", "1.2.3:1",
		"example.org:+1", " example.org:1", "[example.org]:1", "h" + strings.Repeat(".h", 127) + ":1",
	} {
		if _, err := NewNodeRef(id, NodeRefInfo{Addresses: []string{a}}); !errors.Is(err, ErrNodeRef) {
			t.Errorf("address %q accepted (err %v)", a, err)
		}
		if _, err := NewNodeRef(id, NodeRefInfo{QUICAddresses: []string{a}}); !errors.Is(err, ErrNodeRef) {
			t.Errorf("QUIC address %q accepted (err %v)", a, err)
		}
	}
	five := []string{"192.0.2.1:1", "192.0.2.2:1", "192.0.2.3:1", "192.0.2.4:1", "192.0.2.5:1"}
	if _, err := NewNodeRef(id, NodeRefInfo{Addresses: five}); !errors.Is(err, ErrNodeRef) {
		t.Errorf("five addresses accepted (err %v)", err)
	}
	if _, err := NewNodeRef(id, NodeRefInfo{QUICAddresses: five}); !errors.Is(err, ErrNodeRef) {
		t.Errorf("five QUIC addresses accepted (err %v)", err)
	}
	if _, err := NewNodeRef(id, NodeRefInfo{Addresses: []string{"192.0.2.1:1", "192.0.2.1:1"}}); !errors.Is(err, ErrNodeRef) {
		t.Errorf("a repeated address accepted (err %v)", err)
	}
	for _, l := range []crypto.Location{1, -0.5} {
		if _, err := NewNodeRef(id, NodeRefInfo{Location: l, WithLocation: true}); !errors.Is(err, ErrNodeRef) {
			t.Errorf("location %v accepted (err %v)", l, err)
		}
	}
}

func TestParseNodeRefMalformed(t *testing.T) {
	r := testRef(t, "malformed", NodeRefInfo{Addresses: []string{"192.0.2.7:41000"}, Location: 0.5, WithLocation: true})
	text := r.Text()
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	join := func(ls ...string) string { return strings.Join(ls, "\n") + "\n" }
	for name, s := range map[string]string{
		"empty":                  "",
		"header only":            lines[0],
		"no signature":           join(lines[:len(lines)-1]...),
		"lines out of order":     join(lines[0], lines[2], lines[1], lines[3], lines[4], lines[5]),
		"trailing line":          text + "extra\n",
		"blank line inside":      join(lines[0], "", lines[1]),
		"double space":           strings.Replace(text, "id ", "id  ", 1),
		"location spelled 0.50":  strings.Replace(text, "location 0.5", "location 0.50", 1),
		"location 5e-1":          strings.Replace(text, "location 0.5", "location 5e-1", 1),
		"protocol 01":            strings.Replace(text, "protocol 1 1", "protocol 01 1", 1),
		"protocol 0":             strings.Replace(text, "protocol 1 1", "protocol 0 1", 1),
		"protocol reversed":      strings.Replace(text, "protocol 1 1", "protocol 2 1", 1),
		"protocol one number":    strings.Replace(text, "protocol 1 1", "protocol 1", 1),
		"unknown field":          join(lines[0], lines[1], lines[2], "colour blue", lines[3], lines[4], lines[5]),
		"other format version":   strings.Replace(text, "lethe-noderef v1", "lethe-noderef v2", 1),
		"short signature":        text[:len(text)-3] + "\n",
		"oversized":              text + strings.Repeat(" ", maxNodeRefInput),
		"carriage return inside": strings.Replace(text, "\n", "\r", 1),
	} {
		if _, err := ParseNodeRef(s); err == nil {
			t.Errorf("%s: parsed", name)
		} else if !errors.Is(err, ErrNodeRef) && !errors.Is(err, ErrNodeRefSignature) {
			t.Errorf("%s: err = %v, want ErrNodeRef", name, err)
		}
	}
}

// FuzzParseNodeRef: any text either fails or parses to a noderef whose canonical text is the
// input less surrounding white space and CR, and which parses again to itself.
func FuzzParseNodeRef(f *testing.F) {
	f.Add(testRef(f, "fuzz a", NodeRefInfo{}).Text())
	f.Add(testRef(f, "fuzz b", NodeRefInfo{Addresses: []string{"192.0.2.7:41000", "[2001:db8::7]:1"}, Location: 0.25, WithLocation: true}).Text())
	f.Add(largestRef(f).Text())
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseNodeRef(s)
		if err != nil {
			return
		}
		norm := strings.ReplaceAll(strings.TrimSpace(s), "\r\n", "\n") + "\n"
		if r.Text() != norm {
			t.Fatalf("ParseNodeRef(%q).Text() = %q: not canonical", s, r.Text())
		}
		again, err := parseCanonicalNodeRef([]byte(r.Text()))
		if err != nil || !again.Equal(r) {
			t.Fatalf("re-parse of %q: %v", r.Text(), err)
		}
		if len(r.Text()) > MaxNodeRefSize {
			t.Fatalf("parsed a noderef of %d bytes", len(r.Text()))
		}
	})
}

func TestRefCacheBounded(t *testing.T) {
	c := newRefCache(3)
	r := &NodeRef{}
	for i := range 10 {
		c.add([32]byte{byte(i)}, r)
	}
	if len(c.refs) != 3 {
		t.Fatalf("cache holds %d noderefs, want its bound 3", len(c.refs))
	}
	if c.get([32]byte{9}) == nil || c.get([32]byte{0}) != nil {
		t.Error("the cache did not keep the newest and forget the oldest")
	}
}
