package crypto

import (
	"errors"
	"strings"
	"testing"
)

// Keys used to build valid URIs in these tests.
var (
	k32   = encodeKey(make([]byte, 32))
	kA    = strings.Repeat("A", 42) + "E" // a 32-byte key whose last byte is 1
	chkX  = encodeKey([]byte{1, 0, 1, 1, 0})
	sskX  = encodeKey([]byte{1, 0, 2, 1, 0})
	sskIX = encodeKey([]byte{1, 1, 2, 1, 0})
)

func TestParseURIValid(t *testing.T) {
	for _, s := range []string{
		"CHK@" + kA + "," + k32 + "," + chkX,
		"CHK@" + kA + "," + k32 + "," + chkX + "/photo.jpg",
		"CHK@" + kA + "," + k32 + "," + chkX + "/dir/",
		"SSK@" + kA + "," + k32 + "," + sskX + "/",
		"SSK@" + kA + "," + k32 + "," + sskX + "/my doc",
		"SSK@" + kA + "," + k32 + "," + sskX + "/mysite/",
		"SSK@" + kA + "," + k32 + "," + sskX + "/mysite/a/b.html",
		"USK@" + kA + "," + k32 + "," + sskX + "/site/0",
		"USK@" + kA + "," + k32 + "," + sskX + "/site/7/",
		"USK@" + kA + "," + k32 + "," + sskX + "/my-site/1099511627776/dir/página.html",
		"KSK@gpl.txt",
		"KSK@some words/index.html",
	} {
		t.Run(s, func(t *testing.T) {
			u, err := ParseURI(s)
			if err != nil {
				t.Fatal(err)
			}
			if got := u.String(); got != s {
				t.Errorf("String() = %q, want the input back", got)
			}
			v, err := ParseURI(URIPrefix + s)
			if err != nil || v != u {
				t.Errorf("with the %q prefix: %+v, %v", URIPrefix, v, err)
			}
		})
	}
}

func TestParseURIFields(t *testing.T) {
	u, err := ParseURI("USK@" + kA + "," + k32 + "," + sskX + "/my-site/42/a/b.html")
	if err != nil {
		t.Fatal(err)
	}
	if u.Type != USK || u.Site != "my-site" || u.Edition != 42 || u.Path != "/a/b.html" || u.Key[31] != 1 {
		t.Fatalf("parsed %+v", u)
	}
	if got := u.Components(); len(got) != 2 || got[0] != "a" || got[1] != "b.html" {
		t.Errorf("Components() = %q", got)
	}
	k, _ := u.SSKKey()
	if k.DocName != "my-site-42" {
		t.Errorf("USK docname = %q, want my-site-42", k.DocName)
	}
	if u.WithEdition(43).String() != "USK@"+kA+","+k32+","+sskX+"/my-site/43/a/b.html" {
		t.Errorf("WithEdition(43) = %s", u.WithEdition(43))
	}
}

func TestParseURIInvalid(t *testing.T) {
	for _, tc := range []struct{ uri, want string }{
		{"", "no '@'"},
		{"hello", "no '@'"},
		{"XYZ@abc", `unknown key type "XYZ"`},
		{"chk@" + kA + "," + k32 + "," + chkX, `unknown key type "chk"`},
		{"CHK@" + kA[:42] + "," + k32 + "," + chkX, "routing key is 42 characters (31 bytes), want 43 characters (32 bytes)"},
		{"CHK@" + kA + "A," + k32 + "," + chkX, "routing key is 44 characters (33 bytes), want 43"},
		{"CHK@" + kA + "," + k32[:42] + "!," + chkX, "crypto key: bad base64"},
		{"CHK@" + strings.Repeat("A", 42) + "B," + k32 + "," + chkX, "bad base64"}, // non-zero trailing bits
		{"CHK@" + kA + "," + k32 + "+," + chkX, "crypto key is 44 characters"},
		{"CHK@" + kA + "," + k32, "2 comma-separated parts, want 3"},
		{"CHK@" + kA + "," + k32 + "," + chkX + ",x", "4 comma-separated parts"},
		{"CHK@" + kA + "," + k32 + "," + sskX, "key family 2, but the URI says CHK"},
		{"CHK@" + kA + "," + k32 + "," + encodeKey([]byte{2, 0, 1, 1, 0}), "URI format version 2"},
		{"CHK@" + kA + "," + k32 + "," + encodeKey([]byte{1, 0, 1, 9, 0}), "cipher suite 9"},
		{"CHK@" + kA + "," + k32 + "," + encodeKey([]byte{1, 0, 1, 1, 5}), "reserved byte is 5"},
		{"CHK@" + kA + "," + k32 + "," + chkX + "x", "extra field is 8 characters"},
		{"CHK@" + kA + "," + k32 + "," + chkX + "/a//b", "empty path component"},
		{"CHK@" + kA + "," + k32 + "," + chkX + "/../etc", `path component ".."`},
		{"CHK@" + kA + "," + k32 + "," + chkX + "/" + strings.Repeat("x", 256), "path component is 256 bytes"},
		{"CHK@", "only an insert URI"},
		{"SSK@" + kA + "," + k32 + "," + sskX, "needs '/' and a document name"},
		{"SSK@" + kA + "," + k32 + "," + sskIX + "/doc", "this is an insert URI"},
		{"USK@" + kA + "," + k32 + "," + sskX + "/site", "needs an edition"},
		{"USK@" + kA + "," + k32 + "," + sskX + "/site/", "edition is empty"},
		{"USK@" + kA + "," + k32 + "," + sskX + "/site/-1", `edition "-1" is not a non-negative decimal`},
		{"USK@" + kA + "," + k32 + "," + sskX + "/site/+1", `edition "+1" is not a non-negative`},
		{"USK@" + kA + "," + k32 + "," + sskX + "/site/01", "leading zero"},
		{"USK@" + kA + "," + k32 + "," + sskX + "/site/1099511627777", "too large"},
		{"USK@" + kA + "," + k32 + "," + sskX + "/site/99999999999999999999999", "too large"},
		{"USK@" + kA + "," + k32 + "," + sskX + "//0", "site name is empty"},
		{"USK@" + kA + "," + k32 + "," + sskX, "needs a site name and edition"},
		{"KSK@", "keyword is empty"},
		{"KSK@/x", "keyword is empty"},
		{"KSK@a\x00b", "control character U+0000"},
		{"KSK@a\nb", "control character U+000A"},
		{"KSK@a\u0085b", "control character U+0085"},
		{"KSK@a\xffb", "not valid UTF-8"},
		{"KSK@" + strings.Repeat("w", MaxKeyword+1), "keyword is 513 bytes"},
		{"KSK@" + strings.Repeat("w", MaxURILength), "at most 4096"},
		{"lethe:lethe:KSK@x", `unknown key type "lethe:KSK"`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := ParseURI(tc.uri)
			if err == nil {
				t.Fatalf("ParseURI(%q) succeeded", tc.uri)
			}
			if !errors.Is(err, ErrInvalidURI) {
				t.Errorf("error %v is not ErrInvalidURI", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestInsertAndRequestURIsDoNotMix(t *testing.T) {
	ins, err := ParseInsertURI("SSK@" + kA + "," + k32 + "," + sskIX + "/mysite/")
	if err != nil {
		t.Fatal(err)
	}
	if ins.DocName != "mysite" || ins.Path != "/" {
		t.Fatalf("parsed %+v", ins)
	}
	req, err := ins.RequestURI()
	if err != nil {
		t.Fatal(err)
	}
	if req.Key == ins.Seed {
		t.Fatal("the request URI carries the private seed")
	}
	if strings.Contains(req.String(), kA) {
		t.Fatal("the request URI text contains the private seed")
	}
	if _, err := ParseURI(ins.String()); err == nil || !strings.Contains(err.Error(), "insert URI") {
		t.Errorf("ParseURI(insert URI) = %v, want a refusal that names it an insert URI", err)
	}
	if _, err := ParseInsertURI(req.String()); err == nil || !strings.Contains(err.Error(), "request URI") {
		t.Errorf("ParseInsertURI(request URI) = %v, want a refusal that names it a request URI", err)
	}
	back, err := ParseURI(req.String())
	if err != nil || back != req {
		t.Errorf("request URI does not round-trip: %v", err)
	}

	chk, err := ParseInsertURI("CHK@")
	if err != nil || chk.Type != CHK {
		t.Fatalf("ParseInsertURI(CHK@) = %+v, %v", chk, err)
	}
	if _, err := chk.RequestURI(); err == nil {
		t.Error("a CHK insert URI claimed to know its request URI")
	}
	if _, err := ParseInsertURI("CHK@" + kA + "," + k32 + "," + chkX); err == nil {
		t.Error("a CHK request URI was accepted as an insert URI")
	}
}

func TestUSKInsertMatchesRequest(t *testing.T) {
	base, err := GenerateSSKURI(fixedReader("usk"))
	if err != nil {
		t.Fatal(err)
	}
	usk := base
	usk.Type, usk.DocName, usk.Site, usk.Edition = USK, "", "blog", 3
	ins, err := ParseInsertURI(usk.String())
	if err != nil || ins != usk {
		t.Fatalf("USK insert URI %q does not round-trip: %v", usk, err)
	}
	ik, _ := ins.SSKInsertKey()
	req, _ := ins.RequestURI()
	rk, _ := req.RoutingKey()
	if ik.RequestKey().RoutingKey() != rk || ik.DocName != "blog-3" {
		t.Fatal("USK insert and request sides disagree")
	}
}

func TestGenerateSSKURIShape(t *testing.T) {
	u, err := GenerateSSKURI(fixedReader("shape"))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := u.RequestURI()
	for _, s := range []string{u.String(), r.String()} {
		// Freenet clients expect SSK@<43>,<43>,<7>/ and append "name/" to it.
		parts := strings.Split(strings.TrimSuffix(strings.TrimPrefix(s, "SSK@"), "/"), ",")
		if !strings.HasSuffix(s, "/") || len(parts) != 3 || len(parts[0]) != 43 || len(parts[1]) != 43 || len(parts[2]) != 7 {
			t.Errorf("%q does not have the shape SSK@<43>,<43>,<7>/", s)
		}
	}
}
