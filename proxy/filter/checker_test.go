package filter

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/net/html"
)

// The checker is the tests' idea of "safe", written apart from the filter so that it can
// catch the filter's mistakes: it parses the output with the full HTML5 tree builder (what
// a browser does, foster-parenting and adoption agency included) and walks the tree; CSS is
// read with a small scanner of its own. It is strict: it flags anything that could run
// script, and every URL-bearing place whose value is not a fragment or a path on the proxy
// inside the network.

// forbiddenElements may not appear in a filtered page at all.
var forbiddenElements = map[string]bool{
	"script": true, "iframe": true, "frame": true, "frameset": true, "object": true,
	"embed": true, "applet": true, "base": true, "noscript": true, "template": true,
	"portal": true, "fencedframe": true, "param": true, "xmp": true, "plaintext": true,
	"listing": true, "noembed": true, "noframes": true, "image": true, "isindex": true,
	"svg": true, "math": true, "keygen": true, "marquee": true,
}

// urlAttrs are attributes a browser reads as a URL on some element.
var urlAttrs = map[string]bool{
	"href": true, "src": true, "action": true, "formaction": true, "poster": true,
	"background": true, "cite": true, "data": true, "longdesc": true, "lowsrc": true,
	"dynsrc": true, "ping": true, "manifest": true, "codebase": true, "archive": true,
	"classid": true, "profile": true, "usemap": true, "itemtype": true, "icon": true,
	"attributionsrc": true, "xmlns": true, "to": true, "from": true, "values": true,
	"by": true, "code": true,
}

var srcsetAttrs = map[string]bool{"srcset": true, "imagesrcset": true}

// unsafeHTML returns the problems the checker finds in a document.
func unsafeHTML(doc string) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if strings.Contains(strings.ToLower(doc), "<script") {
		add("raw <script in the output")
	}
	root, err := html.Parse(strings.NewReader(doc))
	if err != nil {
		add("html.Parse: %v", err)
		return problems
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			checkElement(n, add)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	return problems
}

var elementName = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

func checkElement(n *html.Node, add func(string, ...any)) {
	name := n.Data
	switch {
	case n.Namespace != "":
		add("foreign element <%s:%s>", n.Namespace, name)
	case forbiddenElements[name]:
		add("element <%s>", name)
	case !elementName.MatchString(name):
		add("odd element name %q", name)
	}
	for _, a := range n.Attr {
		key, val := strings.ToLower(a.Key), a.Val
		switch {
		case a.Namespace != "":
			add("namespaced attribute %s:%s on <%s>", a.Namespace, a.Key, name)
		case strings.HasPrefix(key, "on"):
			add("event handler %s on <%s>", key, name)
		case key == "http-equiv" || key == "charset" || key == "srcdoc" || key == "download":
			add("attribute %s on <%s>", key, name)
		case key == "usemap":
			if !strings.HasPrefix(val, "#") {
				add("usemap %q", val)
			}
		case urlAttrs[key]:
			if p := unsafeURL(val); p != "" {
				add("<%s %s=%q>: %s", name, key, val, p)
			}
		case srcsetAttrs[key]:
			for _, u := range srcsetURLs(val) {
				if p := unsafeURL(u); p != "" {
					add("<%s %s=%q>: %s", name, key, val, p)
				}
			}
		case key == "style":
			for _, p := range unsafeCSS(val) {
				add("style on <%s>: %s", name, p)
			}
		}
	}
	switch name {
	case "meta":
		for _, a := range n.Attr {
			if a.Key != "name" && a.Key != "content" {
				add("<meta %s>", a.Key)
			}
			if a.Key == "name" && strings.EqualFold(strings.TrimSpace(a.Val), "referrer") {
				add("<meta name=referrer>")
			}
		}
	case "link":
		for _, a := range n.Attr {
			if a.Key != "rel" {
				continue
			}
			for r := range strings.FieldsSeq(strings.ToLower(a.Val)) {
				switch r {
				case "stylesheet", "icon", "shortcut", "alternate", "apple-touch-icon":
				default:
					add("<link rel=%s>", r)
				}
			}
		}
	case "form":
		if attrOf(n, "action") == "" {
			add("<form> without an explicit action")
		}
	case "style":
		var text strings.Builder
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type == html.TextNode {
				text.WriteString(c.Data)
			}
		}
		for _, p := range unsafeCSS(text.String()) {
			add("<style>: %s", p)
		}
	}
}

func attrOf(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// srcsetURLs splits a srcset as HTML §4.8.4.3.10 says: a URL is a run of non-whitespace
// (less trailing commas); its descriptors run to the next comma.
func srcsetURLs(s string) []string {
	var urls []string
	for {
		s = strings.TrimLeft(s, " \t\n\r\f,")
		if s == "" {
			return urls
		}
		end := strings.IndexAny(s, " \t\n\r\f")
		if end < 0 {
			end = len(s)
		}
		u := s[:end]
		s = s[end:]
		if strings.HasSuffix(u, ",") {
			urls = append(urls, strings.TrimRight(u, ","))
			continue
		}
		urls = append(urls, u)
		if i := strings.IndexByte(s, ','); i >= 0 {
			s = s[i+1:]
		} else {
			s = ""
		}
	}
}

// unsafeURL returns why a URL is not a fragment or a path inside the network on the proxy,
// or "" if it is. It reads the URL the way a browser's URL parser starts: leading and
// trailing C0 controls and spaces go, tabs and newlines inside are removed.
func unsafeURL(raw string) string {
	v := strings.TrimFunc(raw, func(r rune) bool { return r <= ' ' })
	v = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(v)
	switch {
	case strings.HasPrefix(v, "#"):
		return ""
	case strings.ContainsAny(v, `\`):
		return "backslash"
	case !strings.HasPrefix(v, "/"):
		return "not an absolute path on the proxy"
	case strings.HasPrefix(v, "//"):
		return "protocol-relative"
	}
	path, query, _ := strings.Cut(strings.SplitN(v, "#", 2)[0], "?")
	if path == "/external" {
		if !strings.HasPrefix(query, "url=") {
			return "warning page without url"
		}
		return ""
	}
	dec, err := pathUnescape(path)
	if err != nil {
		return "bad escape"
	}
	first, _, _ := strings.Cut(dec[1:], "/")
	if len(first) < 4 || first[3] != '@' || !strings.Contains("CHK SSK USK KSK", first[:3]) {
		return "first path segment is not a key"
	}
	for seg := range strings.SplitSeq(dec, "/") {
		if seg == "." || seg == ".." {
			return "dot segment"
		}
	}
	return ""
}

func pathUnescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			if i+2 >= len(s) {
				return "", fmt.Errorf("short escape")
			}
			n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", err
			}
			b.WriteByte(byte(n))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String(), nil
}

// unsafeCSS returns the problems in a stylesheet or declaration list. It removes comments,
// decodes escapes, lower-cases, and replaces each string with a placeholder, then looks
// for what loads or runs something: url(), src(), strings inside image-set()/image()/
// cross-fade(), @import, expression(), behaviours and bindings, :visited, script schemes.
func unsafeCSS(css string) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if strings.Contains(strings.ToLower(css), "</style") {
		add("</style inside CSS")
	}
	text, strs := scanCSS(css)
	orig := strings.Join(strings.Fields(text), " ") // whitespace collapsed, case kept
	spaced := lowerASCII(orig)
	if visitedRE.MatchString(lowerASCII(text)) {
		add(":visited")
	}
	for _, re := range cssDanger {
		if re.MatchString(strings.ReplaceAll(spaced, " ", "")) {
			add("%s", re)
		}
	}
	compact := spaced
	for i := 0; i < len(compact); i++ {
		rest := compact[i:]
		if i > 0 && (isNameByte(compact[i-1]) || compact[i-1] == '#' || compact[i-1] == '@') {
			continue // part of a longer name, a hash or an at-keyword
		}
		switch {
		case strings.HasPrefix(rest, "url(") || strings.HasPrefix(rest, "src("):
			arg, _, _ := strings.Cut(orig[i+4:], ")")
			if p := unsafeURL(placeholder(arg, strs)); p != "" {
				add("url(%s): %s", placeholder(arg, strs), p)
			}
		case strings.HasPrefix(rest, "@import"):
			if !strings.HasPrefix(strings.TrimSpace(rest[len("@import"):]), "url(") {
				add("@import without url()")
			}
		case hasFunc(rest, "image-set(", "-webkit-image-set(", "image(", "-webkit-image(", "cross-fade(", "-webkit-cross-fade("):
			open := strings.IndexByte(rest, '(')
			depth, j := 0, open
			for ; j < len(rest); j++ {
				if rest[j] == '(' {
					depth++
				} else if rest[j] == ')' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			inner := orig[i+open : i+min(j+1, len(rest))]
			for _, fn := range []string{"var(", "attr(", "env("} {
				if strings.Contains(lowerASCII(inner), fn) {
					add("%s inside an image function", fn)
				}
			}
			for k := strings.Index(inner, `"#`); k >= 0; k = strings.Index(inner, `"#`) {
				end := strings.IndexByte(inner[k+1:], '"')
				if end < 0 {
					break
				}
				before := lowerASCII(inner[:k])
				if !strings.HasSuffix(before, "url(") && !strings.HasSuffix(before, "type(") {
					s := placeholder(inner[k:k+end+2], strs)
					if p := unsafeURL(s); p != "" {
						add("string %q in an image function: %s", s, p)
					}
				}
				inner = inner[k+end+2:]
			}
		}
	}
	return problems
}

// cssDanger are patterns that must not appear in filtered CSS (matched with whitespace
// and comments removed, escapes decoded, lower-cased).
var cssDanger = []*regexp.Regexp{
	regexp.MustCompile(`(^|[^a-z0-9_\-\x{80}-\x{10FFFF}])expression\(`),
	regexp.MustCompile(`(^|[;{])(-[a-z0-9]+-)?(behavior|binding):`),
	regexp.MustCompile(`@-moz-document|@document`),
}

var visitedRE = regexp.MustCompile(`:visited([^a-z0-9_\-\x{80}-\x{10FFFF}]|$)`)

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func hasFunc(s string, names ...string) bool {
	for _, n := range names {
		if strings.HasPrefix(s, n) {
			return true
		}
	}
	return false
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c >= 0x80
}

// placeholder turns `"#3"` back into the string it stands for.
func placeholder(arg string, strs []string) string {
	if len(arg) > 3 && arg[0] == '"' && arg[1] == '#' && arg[len(arg)-1] == '"' {
		if n, err := strconv.Atoi(arg[2 : len(arg)-1]); err == nil && n < len(strs) {
			return strs[n]
		}
	}
	return arg
}

// scanCSS removes comments and decodes escapes outside strings;
// each string becomes `"#n"`, with its decoded text in strs[n].
func scanCSS(css string) (string, []string) {
	var out strings.Builder
	var strs []string
	r := []rune(css)
	for i := 0; i < len(r); i++ {
		c := r[i]
		switch {
		case c == '/' && i+1 < len(r) && r[i+1] == '*':
			end := strings.Index(string(r[i+2:]), "*/")
			if end < 0 {
				return out.String(), strs
			}
			i += 2 + len([]rune(string(r[i+2:])[:end])) + 1
		case c == '"' || c == '\'':
			var s strings.Builder
			j := i + 1
			for ; j < len(r) && r[j] != c && r[j] != '\n'; j++ {
				if r[j] == '\\' && j+1 < len(r) {
					d, n := decodeEscape(r[j+1:])
					s.WriteRune(d)
					j += n
					continue
				}
				s.WriteRune(r[j])
			}
			fmt.Fprintf(&out, `"#%d"`, len(strs))
			strs = append(strs, s.String())
			i = j
		case c == '\\' && i+1 < len(r):
			d, n := decodeEscape(r[i+1:])
			out.WriteRune(d)
			i += n
		default:
			out.WriteRune(c)
		}
	}
	return out.String(), strs
}

// decodeEscape decodes the escape after a backslash and says how many runes it used.
func decodeEscape(r []rune) (rune, int) {
	n := 0
	for n < len(r) && n < 6 && strings.ContainsRune("0123456789abcdefABCDEF", r[n]) {
		n++
	}
	if n == 0 {
		return r[0], 1
	}
	v, _ := strconv.ParseUint(string(r[:n]), 16, 32)
	if n < len(r) && (r[n] == ' ' || r[n] == '\t' || r[n] == '\n') {
		n++
	}
	return rune(v), n
}
