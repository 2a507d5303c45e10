package filter

import (
	"bytes"
	"strings"
	"testing"

	"lethe/crypto"
)

// testKey returns a request URI of the given type whose key bytes are all b, so that tests
// can build valid key paths without randomness.
func testKey(typ crypto.KeyType, b byte) crypto.RequestURI {
	u := crypto.RequestURI{Type: typ}
	for i := range u.Key {
		u.Key[i], u.Crypto[i] = b, b+1
	}
	switch typ {
	case crypto.SSK:
		u.DocName = "doc"
	case crypto.USK:
		u.Site, u.Edition = "site", 4
	case crypto.KSK:
		u.Keyword = "some words"
	}
	return u
}

// site is the USK the test pages live in, and page a document two levels into it.
var (
	site    = "/" + testKey(crypto.USK, 1).String()
	other   = "/" + testKey(crypto.CHK, 7).String()
	page    = Page{Path: site + "/dir/page.html"}
	cssPage = Page{Path: site + "/css/style.css"}
)

func filterHTML(tb testing.TB, in string) string {
	tb.Helper()
	var out bytes.Buffer
	if err := HTML(&out, strings.NewReader(in), page); err != nil {
		tb.Fatalf("HTML(%q): %v", in, err)
	}
	return out.String()
}

func filterCSS(tb testing.TB, in string) string {
	tb.Helper()
	var out bytes.Buffer
	if err := CSS(&out, strings.NewReader(in), cssPage); err != nil {
		tb.Fatalf("CSS(%q): %v", in, err)
	}
	return out.String()
}
