package filter

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// ordinaryPage is what a Lethe site looks like: every feature here must come through.
const ordinaryPage = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width">
<title>My site &amp; more</title>
<link rel="stylesheet" href="style.css">
<style>
body { font-family: Georgia, serif; color: #333; max-width: 40em; margin: 0 auto }
h1 { border-bottom: 1px solid rgba(0,0,0,.2) }
.banner { background: url(../img/banner.jpg) no-repeat center / cover }
@media (max-width: 600px) { nav li { display: block } }
</style>
</head>
<body>
<header><h1 id="top">Welcome</h1>
<nav><ul class="menu"><li><a href="index.html">Home</a></li><li><a href="../about/">About</a></li><li><a href="#contact">Contact</a></li></ul></nav>
</header>
<main>
<p>Caf&eacute; — naïve text, <em>emphasis</em>, <strong>strong</strong>, <code>a &lt; b</code>.</p>
<p style="color: #a00; font-weight: bold">Important.</p>
<img src="../img/photo.jpg" alt="A photo" width="320" height="200">
<ol start="3"><li>three</li><li>four</li></ol>
<table class="data"><caption>Numbers</caption>
<thead><tr><th>a</th><th>b</th></tr></thead>
<tbody><tr><td>1</td><td>2</td></tr><tr><td colspan="2">3</td></tr></tbody></table>
<pre>if a &lt; b {
	return
}</pre>
<blockquote cite="quote.html">Quoted.</blockquote>
<form action="search.html" method="get"><input type="text" name="q" placeholder="Search"><button type="submit">Go</button></form>
<p>Another key: <a href="/KEY/file.txt">file</a>, and <a href="lethe:KEY/other.txt">other</a>.</p>
<p>Outside: <a href="https://example.org/page">example</a>.</p>
<textarea name="t"><b>not bold</b></textarea>
</main>
</body>
</html>`

func TestOrdinaryPageComesThrough(t *testing.T) {
	out := filterHTML(t, keyed(ordinaryPage))
	if p := unsafeHTML(out); len(p) > 0 {
		t.Fatalf("ordinary page is unsafe after filtering: %v\n%s", p, out)
	}
	doc, err := html.Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	dir := site + "/dir/"
	checks := []struct {
		what string
		ok   bool
	}{
		{"title", text(find(doc, "title")) == "My site & more"},
		{"viewport meta", attrOf(find(doc, "meta"), "name") == "viewport"},
		{"stylesheet link", attrOf(find(doc, "link"), "href") == dir+"style.css"},
		{"style keeps rules", strings.Contains(text(find(doc, "style")), "font-family:Georgia, serif;color:#333;max-width:40em;margin:0 auto;")},
		{"style url resolved", strings.Contains(text(find(doc, "style")), "url("+site+"/img/banner.jpg)")},
		{"media query", strings.Contains(text(find(doc, "style")), "@media (max-width: 600px){nav li{display:block;}")},
		{"h1 with id", text(find(doc, "h1")) == "Welcome" && attrOf(find(doc, "h1"), "id") == "top"},
		{"list items", len(findAll(doc, "li")) == 5},
		{"relative link", attrOf(findAll(doc, "a")[0], "href") == dir+"index.html"},
		{"parent directory link", attrOf(findAll(doc, "a")[1], "href") == site+"/about/"},
		{"fragment link", attrOf(findAll(doc, "a")[2], "href") == "#contact"},
		{"entities and UTF-8", strings.Contains(text(findAll(doc, "p")[0]), "Café — naïve text")},
		{"code text", text(find(doc, "code")) == "a < b"},
		{"inline style", attrOf(findAll(doc, "p")[1], "style") == "color:#a00;font-weight:bold;"},
		{"image", attrOf(find(doc, "img"), "src") == site+"/img/photo.jpg" && attrOf(find(doc, "img"), "alt") == "A photo" && attrOf(find(doc, "img"), "width") == "320"},
		{"ordered list start", attrOf(find(doc, "ol"), "start") == "3"},
		{"table cells", len(findAll(doc, "td")) == 3 && len(findAll(doc, "th")) == 2 && attrOf(findAll(doc, "td")[2], "colspan") == "2"},
		{"caption", text(find(doc, "caption")) == "Numbers"},
		{"pre text", text(find(doc, "pre")) == "if a < b {\n\treturn\n}"},
		{"blockquote cite", attrOf(find(doc, "blockquote"), "cite") == dir+"quote.html"},
		{"form", attrOf(find(doc, "form"), "action") == dir+"search.html" && attrOf(find(doc, "form"), "method") == "get"},
		{"input", attrOf(find(doc, "input"), "name") == "q" && attrOf(find(doc, "input"), "placeholder") == "Search"},
		{"absolute key link", attrOf(findAll(doc, "a")[3], "href") == other+"/file.txt"},
		{"lethe: link", attrOf(findAll(doc, "a")[4], "href") == other+"/other.txt"},
		{"outside link to warning page", attrOf(findAll(doc, "a")[5], "href") == "/external?url=https%3A%2F%2Fexample.org%2Fpage"},
		{"textarea text", text(find(doc, "textarea")) == "<b>not bold</b>"},
		{"html lang", attrOf(find(doc, "html"), "lang") == "en"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s did not come through:\n%s", c.what, out)
		}
	}
	if !strings.HasPrefix(out, "<!DOCTYPE html>") {
		t.Errorf("doctype lost: %.40q", out)
	}
}

func find(n *html.Node, tag string) *html.Node {
	if all := findAll(n, tag); len(all) > 0 {
		return all[0]
	}
	return &html.Node{}
}

func findAll(n *html.Node, tag string) []*html.Node {
	var found []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == tag {
			found = append(found, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return found
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

func TestHTMLExact(t *testing.T) {
	dir := site + "/dir/"
	for _, tc := range []struct{ in, want string }{
		{`<p>a<p>b`, `<p>a</p><p>b</p>`},
		{`<ul><li>a<li>b</ul>`, `<ul><li>a</li><li>b</li></ul>`},
		{`<div><span>x</div>y`, `<div><span>x</span></div>y`},
		{`</b>x`, `x`},
		{`<unknown a=b>x</unknown>`, `x`},
		{`<br/><hr>`, `<br><hr>`},
		{`<p title='a"b'>`, `<p title="a&#34;b"></p>`},
		{`<!-- c --><p>x`, `<p>x</p>`},
		{`<xmp><b>&amp;</b></xmp>`, `<pre>&lt;b&gt;&amp;amp;&lt;/b&gt;</pre>`},
		{`<a href="a.html" target="_BLANK" rel="next">x</a>`, `<a href="` + dir + `a.html" target="_blank" rel="next">x</a>`},
		{`<a href="x" target="evil">x</a>`, `<a href="` + dir + `x">x</a>`},
		{`<form><input></form>`, `<form action="` + dir + `page.html"><input></form>`},
		{`<form method="DIALOG" action="a"><input></form>`, `<form action="` + dir + `a"><input></form>`},
		{`<form action="http://x/"><input></form>`, `<input>`},
		{`<img src="a.png" srcset="a.png 1x, b.png 2x" data-x="1" aria-label="l">`,
			`<img src="` + dir + `a.png" srcset="` + dir + `a.png 1x, ` + dir + `b.png 2x" data-x="1" aria-label="l">`},
		{`<img src="">`, `<img>`},
		{`<a href="">x</a>`, `<a href="` + dir + `page.html">x</a>`},
		{`<a href="?q=1#f">x</a>`, `<a href="` + dir + `page.html#f">x</a>`},
		{`<a href="a b.html">x</a>`, `<a href="` + dir + `a%20b.html">x</a>`},
		{`<a href="/external?url=http%3A%2F%2Fx%2F">x</a>`, `<a href="/external?url=http%3A%2F%2Fx%2F">x</a>`},
		{`<a href="/external?url=sub.html">x</a>`, `<a href="` + dir + `sub.html">x</a>`},
		{`<link rel="preload stylesheet" href="s.css">`, `<link rel="stylesheet" href="` + dir + `s.css">`},
		{`<style type="text/less">a{}</style>x`, `x`},
		{`<script>a</script>x<svg/>y<svg><p>z</svg>w`, `xyw`},
		{"<p>a\x00b\xffc</p>", "<p>a\uFFFDb\uFFFDc</p>"},
		{`<div style="color:red; background: url(http://x/)">x</div>`, `<div style="color:red;">x</div>`},
		{`<div style="background:url(http://x/)">x</div>`, `<div>x</div>`},
	} {
		if got := filterHTML(t, tc.in); got != tc.want {
			t.Errorf("HTML(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestHTMLBadPage(t *testing.T) {
	for _, p := range []string{"", "/", "/index.html", "CHK@x", "/CHK@not-a-key/x"} {
		err := HTML(io.Discard, strings.NewReader("<p>x"), Page{Path: p})
		if !errors.Is(err, ErrPage) {
			t.Errorf("page %q: error %v, want ErrPage", p, err)
		}
	}
}

// TestHTMLStreams checks that output begins before the input ends: the proxy sends the
// first part of a page while the rest is still being fetched.
func TestHTMLStreams(t *testing.T) {
	pr, pw := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- HTML(outW, pr, page)
		outW.Close()
	}()
	first := "<p>" + strings.Repeat("first part ", 2000) + "</p>"
	go pw.Write([]byte(first))
	buf := make([]byte, 3)
	if _, err := io.ReadFull(outR, buf); err != nil || string(buf) != "<p>" {
		t.Fatalf("first output %q, %v", buf, err)
	}
	go func() {
		pw.Write([]byte("<p>second</p>"))
		pw.Close()
	}()
	rest, _ := io.ReadAll(outR)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(rest, []byte("<p>second</p>")) {
		t.Errorf("output ends %q", rest[max(0, len(rest)-20):])
	}
}

func TestHTMLTooLarge(t *testing.T) {
	in := "<p>ok</p><p title=\"" + strings.Repeat("x", maxToken) + "\">"
	var out bytes.Buffer
	err := HTML(&out, strings.NewReader(in), page)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("error %v, want ErrTooLarge", err)
	}
	if !strings.HasPrefix(out.String(), "<p>ok</p>") {
		t.Errorf("what came before the large token was lost: %.40q", out.String())
	}
}

func TestHTMLBounds(t *testing.T) {
	deep := strings.Repeat("<div>", 10*maxDepth) + "x" + strings.Repeat("</div>", 10*maxDepth)
	out := filterHTML(t, deep)
	if n := strings.Count(out, "<div>"); n != maxDepth {
		t.Errorf("%d nested divs written, want %d", n, maxDepth)
	}
	if strings.Count(out, "<div>") != strings.Count(out, "</div>") || !strings.Contains(out, "x") {
		t.Errorf("deep nesting lost balance or text")
	}
	var attrs strings.Builder
	for i := range 2 * maxAttrs {
		attrs.WriteString(" data-a" + strings.Repeat("b", i) + "=1")
	}
	out = filterHTML(t, "<p"+attrs.String()+">")
	if n := strings.Count(out, "data-"); n != maxAttrs {
		t.Errorf("%d attributes kept, want %d", n, maxAttrs)
	}
	out = filterHTML(t, `<p title="`+strings.Repeat("y", maxAttrLen+1)+`">z</p>`)
	if out != "<p>z</p>" {
		t.Errorf("over-long attribute kept: %.60q", out)
	}
}

func TestHTMLWindows1252(t *testing.T) {
	d := Decide("text/html; charset=ISO-8859-1", "p.html")
	var out bytes.Buffer
	if err := d.Filter(&out, strings.NewReader("<p>caf\xe9 \x80 \x93x\x94</p>"), page); err != nil {
		t.Fatal(err)
	}
	if want := "<p>café € “x”</p>"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

func TestHTMLWriteError(t *testing.T) {
	in := strings.Repeat("<p>some text</p>", 10000)
	err := HTML(failWriter{}, strings.NewReader(in), page)
	if !errors.Is(err, errWrite) {
		t.Errorf("error %v, want the writer's", err)
	}
}

var errWrite = errors.New("disk full")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errWrite }
