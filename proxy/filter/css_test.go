package filter

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// tokens tokenises s and describes each token in a compact form for comparison.
func tokens(s string) []string {
	tz := newCSSTokenizer(strings.NewReader(s))
	var out []string
	for {
		t := tz.Next()
		if t.kind == ctEOF {
			return out
		}
		out = append(out, describe(t))
	}
}

func describe(t cssToken) string {
	names := map[cssKind]string{ctWhitespace: "WS", ctIdent: "IDENT", ctFunction: "FUNC",
		ctAtKeyword: "AT", ctHash: "HASH", ctString: "STR", ctBadString: "BADSTR", ctURL: "URL",
		ctBadURL: "BADURL", ctDelim: "DELIM", ctNumber: "NUM", ctPercentage: "PCT",
		ctDimension: "DIM", ctCDO: "CDO", ctCDC: "CDC", ctColon: ":", ctSemicolon: ";",
		ctComma: ",", ctOpenSquare: "[", ctCloseSquare: "]", ctOpenParen: "(",
		ctCloseParen: ")", ctOpenCurly: "{", ctCloseCurly: "}"}
	switch t.kind {
	case ctIdent, ctFunction, ctAtKeyword, ctHash, ctString, ctURL, ctNumber, ctPercentage:
		return names[t.kind] + "(" + t.value + ")"
	case ctDimension:
		return "DIM(" + t.value + "," + t.unit + ")"
	case ctDelim:
		return "DELIM(" + string(t.delim) + ")"
	}
	return names[t.kind]
}

// TestCSSTokenizer pins the tokenizer to CSS Syntax Level 3 on the cases attacks rely on.
func TestCSSTokenizer(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`url(x)`, `URL(x)`},
		{`\75 rl(x)`, `URL(x)`},
		{`\55 \52 \4c (x)`, `URL(x)`},
		{`u\72l(x)`, `URL(x)`},
		{`URL( "x" )`, `FUNC(URL) WS STR(x) WS )`},
		{`url( x )`, `URL(x)`},
		{`url(x y)`, `BADURL`},
		{`url(x"y)`, `BADURL`},
		{`url(\29)`, `URL())`},
		{`url(x`, `URL(x)`},
		{`expression/**/(1)`, `IDENT(expression) ( NUM(1) )`},
		{`expr\65ssion(`, `FUNC(expression)`},
		{`@\69mport`, `AT(import)`},
		{`"a\"b\
c"`, `STR(a"bc)`},
		{"\"a\nb\"", `BADSTR WS IDENT(b) STR()`},
		{`'\31 23'`, `STR(123)`},
		{`\0 x`, "IDENT(\uFFFDx)"},
		{`\110000 x`, "IDENT(\uFFFDx)"},
		{"a\x00b", "IDENT(a\uFFFDb)"},
		{"a\r\nb", `IDENT(a) WS IDENT(b)`},
		{`#a1 #1a #-`, `HASH(a1) WS HASH(1a) WS HASH(-)`},
		{`1.5e3px 50% +.5 -1e-2 1e 1e+`, `DIM(1.5e3,px) WS PCT(50) WS NUM(+.5) WS NUM(-1e-2) WS DIM(1,e) WS DIM(1,e) DELIM(+)`},
		{`<!-- --> -->`, `CDO WS CDC WS CDC`},
		{`a:visited`, `IDENT(a) : IDENT(visited)`},
		{`a:vi\73ited`, `IDENT(a) : IDENT(visited)`},
		{`--x:{}`, `IDENT(--x) : { }`},
		{`-\31 a`, `IDENT(-1a)`},
		{`\`, "IDENT(\uFFFD)"},
		{"\\\n", `DELIM(\) WS`},
		{`/* unclosed`, ``},
		{`U+0025-00FF`, `IDENT(U) NUM(+0025) DIM(-00,FF)`},
	} {
		if got := strings.Join(tokens(tc.in), " "); got != tc.want {
			t.Errorf("tokens(%q)\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

// TestCSSSerializeRoundTrip checks that what the writer writes tokenises back to the same
// tokens, including the pairs that would run together without a comment.
func TestCSSSerializeRoundTrip(t *testing.T) {
	for _, in := range []string{
		`expression/**/(1)`, `a/**/b`, `1/**/px`, `1/**/%`, `#/**/a`, `-/**/a`, `@/**/a`,
		`./**/5`, `+/**/5`, `//**/*`, `a/**/-`, `-/**/-/**/>`, `<!--`, `<a`, `\31 23`,
		`1\65 3`, `1\45 -3`, `#\31 a`, `"a\"b\\c"`, "'\\3c /style\\3e '", `\-`, `--x`,
		`url(x)`, `a\ b`, `a\(b`, `U+0025-00FF`, `\37 px`, `1e/**/+1`, `2n+1`, `1/**/.5`,
	} {
		assertRoundTrip(t, in)
	}
}

func assertRoundTrip(t testing.TB, in string) {
	t.Helper()
	var toks []cssToken
	tz := newCSSTokenizer(strings.NewReader(in))
	for {
		tok := tz.Next()
		if tok.kind == ctEOF {
			break
		}
		switch tok.kind {
		case ctBadString, ctBadURL, ctCDO, ctCDC, ctURL:
			continue // never written as they are
		case ctDelim:
			if tok.delim == '\\' {
				continue
			}
		case ctFunction:
			if asciiLower(tok.value) == "url" {
				continue // only ever followed by its string, which the filter turns into a url token
			}
		}
		toks = append(toks, tok)
	}
	out := cssString(toks)
	if strings.Contains(out, "</") {
		t.Errorf("serialisation of %q holds \"</\": %q", in, out)
	}
	var want, got []string
	for _, tok := range toks {
		if tok.kind == ctWhitespace || tok.kind == ctDelim && tok.delim == '<' {
			continue
		}
		want = append(want, describe(tok))
	}
	for _, d := range tokens(out) {
		if d != "WS" && d != "DELIM(<)" {
			got = append(got, d)
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%q is written as %q, which reads back as\n%v, not\n%v", in, out, got, want)
	}
}

const ordinaryCSS = `@charset "utf-8";
@import url("base.css") screen;
:root { --accent: #c33; --font: "Helvetica Neue", Arial, sans-serif }
html, body { margin: 0; padding: 0 }
body { font: 16px/1.5 var(--font); color: rgb(20 20 20 / 90%); background: #fff url(../img/paper.png) repeat }
a:link, a:hover { color: var(--accent); text-decoration: none }
nav > ul li + li::before { content: "·"; margin: 0 .5em }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(12em, 1fr)); gap: calc(1rem + 2px) }
.hero { background-image: linear-gradient(to right, rgba(0,0,0,.5), transparent), url('hero.jpg') }
@media screen and (min-width: 40em) { .side { float: right; width: 30% } }
@font-face { font-family: "Body"; src: url(fonts/body.woff2) format("woff2"), local("Georgia") }
@keyframes fade { from { opacity: 0 } 50% { opacity: .5 } to { opacity: 1 } }
.card { & .title { font-weight: 700 } &:hover { transform: translateY(-2px) scale(1.02) } }
li:nth-child(2n+1) { background: #eee !important }
`

func TestOrdinaryStylesheetComesThrough(t *testing.T) {
	out := filterCSS(t, ordinaryCSS)
	if p := unsafeCSS(out); len(p) > 0 {
		t.Fatalf("unsafe: %v\n%s", p, out)
	}
	dir := site + "/css/"
	for _, want := range []string{
		`@import url(` + dir + `base.css) screen;`,
		`:root{--accent:#c33;--font:"Helvetica Neue", Arial, sans-serif;}`,
		`html, body{margin:0;padding:0;}`,
		`body{font:16px/1.5 var(--font);color:rgb(20 20 20 / 90%);background:#fff url(` + site + `/img/paper.png) repeat;}`,
		`a:link, a:hover{color:var(--accent);text-decoration:none;}`,
		`nav > ul li + li::before{content:"·";margin:0 .5em;}`,
		`.grid{display:grid;grid-template-columns:repeat(auto-fill, minmax(12em, 1fr));gap:calc(1rem + 2px);}`,
		`.hero{background-image:linear-gradient(to right, rgba(0,0,0,.5), transparent), url(` + dir + `hero.jpg);}`,
		`@media screen and (min-width: 40em){.side{float:right;width:30%;}`,
		`@font-face{font-family:"Body";src:url(` + dir + `fonts/body.woff2) format("woff2"), local("Georgia");}`,
		`@keyframes fade{from{opacity:0;}`, `50%{opacity:.5;}`, `to{opacity:1;}`,
		`.card{& .title{font-weight:700;}`, `&:hover{transform:translateY(-2px) scale(1.02);}`,
		`li:nth-child(2n+1){background:#eee !important;}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "@charset") {
		t.Errorf("@charset kept: the output is always UTF-8")
	}
}

func TestCSSExact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`a{color:red}`, "a{color:red;}\n"},
		{`a{color:red;;;color:blue}`, "a{color:red;color:blue;}\n"},
		{`a{color}b{x:1}`, "a{}\nb{x:1;}\n"},
		{`a{x:1} } b{y:2}`, "a{x:1;}\nb{y:2;}\n"},
		{`color:red; a{x:1}`, "a{x:1;}\n"},
		{`a{x:f(;}b{y:2}`, "a{}\n"},
		{`a{x:rgb(1 2 3;y:2}`, "a{}\n"},
		{`a{x:rgb(1 2 3;y:2)}`, "a{x:rgb(1 2 3;y:2);}\n"},
		{`a{x:"a</style>"}`, `a{x:"a\3c /style\3e ";}` + "\n"},
		{`@media (width < 600px){a{x:1}}`, "@media (width < 600px){a{x:1;}\n}\n"},
		{`@media screen{@import "x.css";a{x:1}}`, "@media screen{a{x:1;}\n}\n"},
		{`@unknown foo{a{x:1}}b{y:2}`, "b{y:2;}\n"},
		{`@layer base, theme;`, "@layer base, theme;\n"},
		{`a{x:paint(foo)}`, "a{}\n"},
		{`a{x:element(#b)}`, "a{}\n"},
		{`a{x:url(#frag)}`, "a{x:url(#frag);}\n"},
		{`a{x:url()}`, "a{}\n"},
		{`a{x:attr(title)}a::after{content:attr(title)}`, "a{}\na::after{content:attr(title);}\n"},
		{`a{content:"http://example.org/"}`, "a{}\n"},
		{`a[href^="http://"]{color:red}`, `a[href^="http://"]{color:red;}` + "\n"},
		{`a{--x:"//evil.example/" {b:c}}`, "a{}\n"},
		{`"http://evil.example/"{b:c}`, ""},
		{`a{background:-webkit-linear-gradient(red,blue)}`, "a{background:-webkit-linear-gradient(red,blue);}\n"},
	} {
		if got := filterCSS(t, tc.in); got != tc.want {
			t.Errorf("CSS(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestStyleAttribute(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`color: red; margin: 0 auto`, `color:red;margin:0 auto;`},
		{`color:red; @media x { a {b:c} } margin:0`, `color:red;margin:0;`},
		{`a{color:red}`, ``},
		{`background: url(x.png)`, `background:url(` + site + `/dir/x.png);`},
		{`background: url(http://x/)`, ``},
	} {
		got, err := StyleAttribute(tc.in, page)
		if err != nil || got != tc.want {
			t.Errorf("StyleAttribute(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := StyleAttribute("x:y", Page{Path: "/nope"}); !errors.Is(err, ErrPage) {
		t.Errorf("bad page: %v", err)
	}
}

func TestCSSBounds(t *testing.T) {
	deep := strings.Repeat("@media screen{", 3*maxCSSDepth) + "a{x:1}" + strings.Repeat("}", 3*maxCSSDepth) + "b{y:2}"
	out := filterCSS(t, deep)
	if strings.Contains(out, "x:1") || !strings.Contains(out, "b{y:2;}") {
		t.Errorf("deep blocks: %q", out)
	}
	parens := "a{x:" + strings.Repeat("(", 3*maxCSSDepth) + strings.Repeat(")", 3*maxCSSDepth) + "}b{y:2}"
	if out := filterCSS(t, parens); out != "a{}\nb{y:2;}\n" {
		t.Errorf("deep parentheses: %q", out)
	}
	endless := "a{x:" + strings.Repeat("(", 2*maxCSSNesting) + strings.Repeat(")", 2*maxCSSNesting) + "}b{y:2}"
	if out := filterCSS(t, endless); out != "a{}\n" {
		t.Errorf("nesting past maxCSSNesting: %q, want the rest dropped", out)
	}
	long := "a{x:" + strings.Repeat("1 ", maxCSSStatement+1) + "}b{y:2}"
	if out := filterCSS(t, long); out != "a{}\nb{y:2;}\n" {
		t.Errorf("long statement: %.80q", out)
	}
	big := `a{content:"` + strings.Repeat("z", maxCSSToken+1) + `"}b{y:2}`
	if out := filterCSS(t, big); out != "a{}\nb{y:2;}\n" {
		t.Errorf("long token: %.80q", out)
	}
}

func TestCSSErrors(t *testing.T) {
	if err := CSS(&bytes.Buffer{}, strings.NewReader("a{}"), Page{Path: "/x"}); !errors.Is(err, ErrPage) {
		t.Errorf("bad page: %v", err)
	}
	err := CSS(&bytes.Buffer{}, errReader{}, cssPage)
	if !errors.Is(err, errRead) {
		t.Errorf("read error: %v", err)
	}
	err = CSS(failWriter{}, strings.NewReader("a{x:1}"), cssPage)
	if !errors.Is(err, errWrite) {
		t.Errorf("write error: %v", err)
	}
}

var errRead = fmt.Errorf("connection reset")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errRead }
