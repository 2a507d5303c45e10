package filter

import (
	"net/url"
	"testing"

	"lethe/crypto"
)

func TestRewrite(t *testing.T) {
	rw, err := newRewriter(page)
	if err != nil {
		t.Fatal(err)
	}
	dir := site + "/dir/"
	ksk := "/KSK@some%20words" // testKey(crypto.KSK, 0), escaped
	const drop = "(removed)"
	for _, tc := range []struct {
		in        string
		link, res string // as a link, as a resource
		note      string
	}{
		{"a.html", dir + "a.html", dir + "a.html", "relative"},
		{"./a/../b.html", dir + "b.html", dir + "b.html", "dot segments"},
		{"../x/", site + "/x/", site + "/x/", "parent"},
		{"../../3/", "/" + testKey(crypto.USK, 1).WithEdition(3).String() + "/", "/" + testKey(crypto.USK, 1).WithEdition(3).String() + "/", "another edition"},
		{"../../../../..", drop, drop, "above the key"},
		{"%2e%2e/x", site + "/x", site + "/x", "encoded dots"},
		{"a%2Fb", dir + "a/b", dir + "a/b", "encoded slash"},
		{"a b", dir + "a%20b", dir + "a%20b", "space"},
		{"é", dir + "%C3%A9", dir + "%C3%A9", "non-ASCII"},
		{"a(1)'\".png", dir + "a%281%29%27%22.png", dir + "a%281%29%27%22.png", "quotes and parens"},
		{"x,", dir + "x%2C", dir + "x%2C", "trailing comma"},
		{"#top", "#top", "#top", "fragment"},
		{"#a b", "#a%20b", "#a%20b", "fragment with space"},
		{"x.html#f", dir + "x.html#f", dir + "x.html#f", "path and fragment"},
		{"x.html?q=1", dir + "x.html", dir + "x.html", "query dropped"},
		{"", dir + "page.html", drop, "empty"},
		{other + "/f.txt", other + "/f.txt", other + "/f.txt", "absolute key path"},
		{other[1:] + "/f.txt", other + "/f.txt", other + "/f.txt", "bare key"},
		{"lethe:" + other[1:], other, other, "lethe: scheme"},
		{"freenet:" + other[1:], other, other, "freenet: scheme"},
		{"/freenet:" + other[1:], other, other, "freenet: path"},
		{"/KSK@some%20words", ksk, ksk, "KSK with space"},
		{"/CHK@abc/x", drop, drop, "malformed key"},
		{"/index.html", drop, drop, "not a key"},
		{"/settings", drop, drop, "proxy page"},
		{"http://example.org/a?b=c", "/external?url=http%3A%2F%2Fexample.org%2Fa%3Fb%3Dc", drop, "http"},
		{"HTTPS://example.org/", "/external?url=HTTPS%3A%2F%2Fexample.org%2F", drop, "https upper case"},
		{"//example.org/", "/external?url=%2F%2Fexample.org%2F", drop, "protocol-relative"},
		{"\\\\example.org/", "/external?url=%5C%5Cexample.org%2F", drop, "backslashes"},
		{" \t//example.org/ ", "/external?url=%2F%2Fexample.org%2F", drop, "whitespace"},
		{"mailto:a@b.example", "/external?url=mailto%3Aa%40b.example", drop, "mailto"},
		{"javascript:alert(1)", drop, drop, "javascript"},
		{"java\nscript:alert(1)", drop, drop, "javascript with newline"},
		{"data:text/html,x", drop, drop, "data"},
		{"/external?url=" + "x.html", dir + "x.html", drop, "warning page to in-network"},
		{"/external?url=http%3A%2F%2Fa%2F", "/external?url=http%3A%2F%2Fa%2F", drop, "warning page kept"},
		{"/external?url=%2Fexternal%3Furl%3Dhttp%253A%252F%252Fa", drop, drop, "warning page nested"},
		{"/external", drop, drop, "warning page without url"},
	} {
		for _, k := range []struct {
			kind refKind
			want string
		}{{refLink, tc.link}, {refResource, tc.res}} {
			got, ok := rw.rewrite(tc.in, k.kind)
			if !ok {
				got = drop
			}
			if got != k.want {
				t.Errorf("%s: rewrite(%q, kind %d) = %q, want %q", tc.note, tc.in, k.kind, got, k.want)
			}
		}
	}
}

func TestRewriteForm(t *testing.T) {
	rw, _ := newRewriter(page)
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"", site + "/dir/page.html", true},
		{"#x", site + "/dir/page.html", true},
		{"s.html", site + "/dir/s.html", true},
		{"http://example.org/", "", false},
		{"/settings", "", false},
	} {
		got, ok := rw.rewrite(tc.in, refForm)
		if ok != tc.ok || got != tc.want {
			t.Errorf("form action %q = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestRewriteSrcset(t *testing.T) {
	rw, _ := newRewriter(page)
	dir := site + "/dir/"
	for _, tc := range []struct{ in, want string }{
		{"a.png", dir + "a.png"},
		{"a.png 1x, b.png 2x", dir + "a.png 1x, " + dir + "b.png 2x"},
		{"a.png 100w,b.png 200w", dir + "a.png 100w, " + dir + "b.png 200w"},
		{"a.png, b.png 1.5x", dir + "a.png, " + dir + "b.png 1.5x"},
		{"http://x/a.png 1x, b.png 2x", dir + "b.png 2x"},
		{"a.png 1y, b.png 2x", dir + "b.png 2x"},
		{"a.png 1x 2x 3x", ""},
		{"data:image/png;base64,AAA 1x", ""},
		{"#f 1x", ""},
	} {
		got, ok := rw.rewriteSrcset(tc.in)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("srcset %q = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}

func TestRemoveDotSegments(t *testing.T) {
	for in, want := range map[string]string{
		"/a/b.c/d":   "/a/b.c/d",
		"/a/./b":     "/a/b",
		"/a/../b":    "/b",
		"/a/b/..":    "/a/",
		"/a/b/.":     "/a/b/",
		"/..":        "/",
		"/a/..b/.c.": "/a/..b/.c.",
		"/a//../b":   "/a/b",
	} {
		if got := removeDotSegments(in); got != want {
			t.Errorf("removeDotSegments(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPathMatchesRewrite: the proxy's own spelling of a URI's path is what the filter writes
// for a link to it, and it reads back as the same URI.
func TestPathMatchesRewrite(t *testing.T) {
	rw, err := newRewriter(page)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/a b/c,", "/données/日本.html", "/x%y/(1)", "/q?#"} {
		u := testKey(crypto.USK, 1).WithPath(p)
		got, ok := rw.rewrite(Path(u), refLink)
		if !ok || got != Path(u) {
			t.Errorf("%q: rewrite %q, %v; Path %q", p, got, ok, Path(u))
		}
		back, err := url.PathUnescape(Path(u))
		if err != nil || back != "/"+u.String() {
			t.Errorf("%q: Path %q decodes to %q, %v", p, Path(u), back, err)
		}
	}
}
