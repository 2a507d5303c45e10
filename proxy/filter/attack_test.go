package filter

import (
	"strings"
	"testing"

	"lethe/proxy/filter/filtertest"
)

// The attack inputs are in package filtertest (attacks.txt), shared with the proxy's test
// in a real browser. Every one of them is caught by the checker as it stands
// (TestCheckerCatchesAttacks), so the checker is known to look where the attack is, and none
// survives the filter (TestHTMLAttacks, TestCSSAttacks).
var htmlAttacks, cssAttacks = filtertest.HTML, filtertest.CSS

func keyed(s string) string { return strings.ReplaceAll(s, filtertest.Key, other[1:]) }

func TestCheckerCatchesAttacks(t *testing.T) {
	for _, tc := range htmlAttacks {
		if p := unsafeHTML(keyed(tc.Input)); len(p) == 0 {
			t.Errorf("%s: the checker finds nothing wrong with the unfiltered page %q", tc.Name, tc.Input)
		}
	}
	for _, tc := range cssAttacks {
		if p := unsafeCSS(keyed(tc.Input)); len(p) == 0 {
			t.Errorf("%s: the checker finds nothing wrong with the unfiltered stylesheet %q", tc.Name, tc.Input)
		}
	}
}

func TestHTMLAttacks(t *testing.T) {
	if n := len(htmlAttacks) + len(cssAttacks); n < 80 {
		t.Fatalf("%d attack inputs, want at least 80", n)
	}
	for _, tc := range htmlAttacks {
		t.Run(tc.Name, func(t *testing.T) {
			in := keyed(tc.Input)
			out := filterHTML(t, in)
			for _, p := range unsafeHTML(out) {
				t.Errorf("filtered %q\ngives %q\nwhich has %s", in, out, p)
			}
			if strings.Contains(out, "evil.example") && !strings.Contains(out, "/external?url=") {
				t.Errorf("filtered %q gives %q, which still names evil.example", in, out)
			}
		})
	}
}

func TestCSSAttacks(t *testing.T) {
	for _, tc := range cssAttacks {
		t.Run(tc.Name, func(t *testing.T) {
			in := keyed(tc.Input)
			out := filterCSS(t, in)
			for _, p := range unsafeCSS(out) {
				t.Errorf("filtered %q\ngives %q\nwhich has %s", in, out, p)
			}
			if strings.Contains(out, "evil.example") {
				t.Errorf("filtered %q gives %q, which still names evil.example", in, out)
			}
			// The same stylesheet inside a page, and its declarations in a style attribute.
			page := filterHTML(t, "<style>"+in+"</style><p style='"+strings.ReplaceAll(in, "'", "")+"'>x</p>")
			for _, p := range unsafeHTML(page) {
				t.Errorf("as a page: %q has %s", page, p)
			}
		})
	}
}
