package filter

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"lethe/crypto"
)

// ErrPage means a Page does not name a document inside the network, so its relative
// references cannot be resolved.
var ErrPage = errors.New("page path is not a key path")

// Page says where a filtered document lives inside the proxy, so that its relative
// references can be resolved and checked to stay in the network.
type Page struct {
	// Path is the document's path on the proxy, percent-decoded as the request named it:
	// "/USK@…/site/4/dir/page.html". It is "/" followed by a request URI (spec §6). A
	// directory's index must be given with its trailing slash ("/USK@…/site/4/"), as
	// browsers resolve relative references against everything up to the last slash.
	Path string
}

// ExternalPath is the proxy's warning page for references that leave the network; the
// original address follows as the query parameter "url" (spec §17.3).
const ExternalPath = "/external"

// refKind says what a URL is for, which decides what becomes of it when it points out of
// the network (spec §17.3).
type refKind uint8

const (
	refLink     refKind = iota // a user follows it (a, area): outside goes to ExternalPath
	refResource                // the browser fetches it by itself (img, CSS url()): outside is removed
	refForm                    // a form submits to it: only in-network paths survive
)

// rewriter turns URLs found in a page into proxy paths. base is the page's own canonical
// path, against which relative references resolve.
type rewriter struct {
	base string
}

func newRewriter(p Page) (*rewriter, error) {
	rest, ok := strings.CutPrefix(p.Path, "/")
	if !ok {
		return nil, fmt.Errorf("filter: page %q: %w", p.Path, ErrPage)
	}
	u, err := crypto.ParseURI(rest)
	if err != nil {
		return nil, fmt.Errorf("filter: page %q: %w: %w", p.Path, ErrPage, err)
	}
	return &rewriter{base: "/" + u.String()}, nil
}

// schemes whose links carry content or code rather than an address; they have no meaning
// outside the page, so a link to one is removed rather than sent to the warning page.
var deadSchemes = map[string]bool{
	"javascript": true, "vbscript": true, "livescript": true, "mocha": true,
	"data": true, "blob": true, "file": true, "filesystem": true, "about": true,
	"view-source": true, "jar": true, "mhtml": true, "ms-its": true, "res": true,
	"chrome": true, "resource": true, "moz-extension": true, "chrome-extension": true,
}

// rewrite returns what a URL attribute or CSS url() becomes in the filtered output, or
// ok=false if it must be removed. Every result is either a fragment ("#…") or an absolute
// path on the proxy built from characters that need no quoting in HTML, CSS or srcset:
// "/CHK@…/x.png", or for links "/external?url=…".
func (rw *rewriter) rewrite(raw string, kind refKind) (string, bool) {
	out, ok := rw.rewriteDepth(raw, kind, 0)
	if !ok || len(out) > maxURLLen {
		// Escaping can make a URL longer (an invalid byte becomes nine); one that grew past
		// the limit would be refused if filtered again, so it is refused now, and
		// filtering twice gives the same page.
		return "", false
	}
	return out, true
}

func (rw *rewriter) rewriteDepth(raw string, kind refKind, depth int) (string, bool) {
	if len(raw) > maxURLLen {
		return "", false
	}
	v := cleanURL(raw)
	if v == "" {
		if kind == refResource {
			return "", false // an empty src fetches nothing in a browser; keep it so
		}
		return escapePath(rw.base), true
	}
	ref, frag, hasFrag := strings.Cut(v, "#")
	if ref == "" {
		if kind == refForm {
			return escapePath(rw.base), true // a form with action="#x" submits to the page
		}
		return "#" + escapeFragment(frag), true
	}
	if scheme, rest, ok := splitScheme(ref); ok {
		switch scheme {
		case "lethe", "freenet":
			ref = "/" + strings.TrimPrefix(rest, "//")
		default:
			if kind != refLink || deadSchemes[scheme] {
				return "", false
			}
			return external(v)
		}
	}
	// Browsers read a backslash as a slash in http(s) paths, so "\\host" and "/\host"
	// are protocol-relative too; read them the way the browser would.
	ref = strings.ReplaceAll(ref, `\`, "/")
	if strings.HasPrefix(ref, "//") {
		if kind != refLink {
			return "", false
		}
		return external(v)
	}
	path, query, _ := strings.Cut(ref, "?")
	switch {
	case looksLikeKey(path):
		path = "/" + path
	case strings.HasPrefix(path, "/"):
	case path == "":
		path = rw.base // "?q" refers to the page itself
	default:
		path = rw.base[:strings.LastIndexByte(rw.base, '/')+1] + path
	}
	path = removeDotSegments(percentDecode(path))
	if path == ExternalPath && kind == refLink && depth == 0 {
		// A link to the warning page (as this filter writes them): judge the address it
		// carries, so that filtering twice gives the same page.
		q, err := url.ParseQuery(query)
		if err != nil || len(q["url"]) != 1 {
			return "", false
		}
		return rw.rewriteDepth(q.Get("url"), kind, depth+1)
	}
	uri, ok := keyPath(path)
	if !ok {
		return "", false
	}
	out := escapePath("/" + uri)
	if hasFrag {
		out += "#" + escapeFragment(frag)
	}
	return out, true
}

// keyPath checks that an absolute, decoded path on the proxy is a request URI, accepting
// the "lethe:" and "freenet:" prefixes that sites sometimes put before a key, and returns the
// URI's canonical text. A URI that parses is already canonical (spec §6.4: formatting it gives
// back its input less the prefix), so the text is the input's.
func keyPath(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, "/")
	if !ok {
		return "", false
	}
	rest = strings.TrimPrefix(rest, "freenet:")
	rest = strings.TrimPrefix(rest, crypto.URIPrefix)
	if !looksLikeKey(rest) {
		return "", false
	}
	_, err := crypto.ParseURI(rest)
	return rest, err == nil
}

func looksLikeKey(s string) bool {
	if len(s) < 4 || s[3] != '@' {
		return false
	}
	switch s[:3] {
	case "CHK", "SSK", "USK", "KSK":
		return true
	}
	return false
}

// external is where a link out of the network goes: the proxy's warning page, which shows
// the address without following it.
func external(v string) (string, bool) {
	if len(v) > maxExternalLen {
		return "", false
	}
	return ExternalPath + "?url=" + url.QueryEscape(strings.ToValidUTF8(v, "\uFFFD")), true
}

// cleanURL does what the URL parser of a browser does first: strip leading and trailing C0
// controls and spaces, and remove every tab and newline inside (so "java\tscript:" is
// "javascript:").
func cleanURL(s string) string {
	s = strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
	if strings.ContainsAny(s, "\t\n\r") {
		s = strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' {
				return -1
			}
			return r
		}, s)
	}
	return s
}

// splitScheme reports the lower-cased scheme of an absolute URL: an ASCII letter, then
// letters, digits, "+", "-" or ".", then ":".
func splitScheme(s string) (scheme, rest string, ok bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return strings.ToLower(s[:i]), s[i+1:], true
		default:
			return "", "", false
		}
	}
	return "", "", false
}

// percentDecode decodes %XX escapes; a '%' not followed by two hex digits stays as it is,
// as in a browser.
func percentDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeDotSegments resolves "." and ".." in an absolute path (RFC 3986 §5.2.4). ".."
// above the root stays at the root.
func removeDotSegments(p string) string {
	if !hasDotSegment(p) {
		return p
	}
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
			continue
		}
		if last {
			out = append(out, "") // "a/b/.." is the directory "a/"
		}
	}
	return "/" + strings.Join(out, "/")
}

// hasDotSegment reports whether a path has a "." or ".." segment.
func hasDotSegment(p string) bool {
	for i := 0; i < len(p); i++ {
		if p[i] != '.' || i > 0 && p[i-1] != '/' {
			continue
		}
		j := i + 1
		if j < len(p) && p[j] == '.' {
			j++
		}
		if j == len(p) || p[j] == '/' {
			return true
		}
	}
	return false
}

// pathSafe marks the bytes an output path keeps as they are: unreserved characters and the
// sub-delimiters that need no quoting in an HTML attribute, a CSS url() token or a srcset.
// Quotes, parentheses, backslash, whitespace, '<', '>', '%' and everything non-ASCII are
// escaped.
var pathSafe = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&*+,;=:@/") {
		t[c] = true
	}
	return t
}()

// escapePath percent-encodes a decoded path for output. A trailing comma is escaped too, so
// that the path can stand in a srcset, where a URL ending in ',' loses the comma.
func escapePath(p string) string {
	return escapeWith(p, func(c byte) bool { return pathSafe[c] }, true)
}

// escapeFragment escapes a fragment as written in the page. '%' is kept, because browsers
// match fragments after percent-decoding them, and '?' and '/' are kept as they are
// harmless there.
func escapeFragment(f string) string {
	return escapeWith(f, func(c byte) bool { return pathSafe[c] || c == '%' || c == '?' }, true)
}

func escapeWith(s string, safe func(byte) bool, trailingComma bool) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !safe(s[i]) {
			n++
		}
	}
	if n == 0 && !(trailingComma && strings.HasSuffix(s, ",")) {
		return s
	}
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 2*n + 2)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if safe(c) && !(trailingComma && c == ',' && i == len(s)-1) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// rewriteSrcset filters a srcset attribute (HTML §4.8.4.3.10): a comma-separated list of
// image candidates, each a URL and optional width or density descriptors. Candidates whose
// URL does not stay in the network, or whose descriptors are not plain "100w", "1.5x" or
// "200h", are dropped.
func (rw *rewriter) rewriteSrcset(v string) (string, bool) {
	var out []string
	for v != "" && len(out) < maxSrcsetCandidates {
		v = strings.TrimLeft(v, " \t\n\r\f,")
		if v == "" {
			break
		}
		end := strings.IndexAny(v, " \t\n\r\f")
		if end < 0 {
			end = len(v)
		}
		u, desc := v[:end], ""
		v = v[end:]
		if strings.HasSuffix(u, ",") {
			u = strings.TrimRight(u, ",")
		} else {
			// Descriptors run to the next comma outside parentheses.
			depth, i := 0, 0
			for ; i < len(v); i++ {
				switch v[i] {
				case '(':
					depth++
				case ')':
					if depth > 0 {
						depth--
					}
				case ',':
					if depth == 0 {
						goto done
					}
				}
			}
		done:
			desc, v = v[:i], v[i:]
		}
		fields := strings.Fields(desc)
		if !validDescriptors(fields) {
			continue
		}
		p, ok := rw.rewrite(u, refResource)
		if !ok || strings.HasPrefix(p, "#") {
			continue
		}
		out = append(out, strings.Join(append([]string{p}, fields...), " "))
	}
	return strings.Join(out, ", "), len(out) > 0
}

func validDescriptors(fields []string) bool {
	if len(fields) > 2 {
		return false
	}
	for _, f := range fields {
		if len(f) < 2 || len(f) > 16 {
			return false
		}
		num, unit := f[:len(f)-1], f[len(f)-1]
		if unit != 'w' && unit != 'x' && unit != 'h' {
			return false
		}
		dot := false
		for i := 0; i < len(num); i++ {
			switch c := num[i]; {
			case '0' <= c && c <= '9':
			case c == '.' && !dot && unit == 'x' && i > 0 && i < len(num)-1:
				dot = true
			default:
				return false
			}
		}
	}
	return true
}
