package filter

import (
	"errors"
	"io"
	"unicode/utf8"
)

// A CSS tokenizer after CSS Syntax Module Level 3, §4 (Tokenization). The filter must see a
// stylesheet exactly as a browser does — `\75 rl(` is a url token, a comment splits
// `expression/**/(` into an identifier and a parenthesis — so this follows the standard's
// algorithm step by step; the function names are the standard's.

type cssKind uint8

const (
	ctEOF cssKind = iota
	ctWhitespace
	ctIdent
	ctFunction
	ctAtKeyword
	ctHash
	ctString
	ctBadString
	ctURL
	ctBadURL
	ctDelim
	ctNumber
	ctPercentage
	ctDimension
	ctCDO
	ctCDC
	ctColon
	ctSemicolon
	ctComma
	ctOpenSquare
	ctCloseSquare
	ctOpenParen
	ctCloseParen
	ctOpenCurly
	ctCloseCurly
)

// cssToken is one token. value is decoded (escapes resolved): the name of an identifier,
// function, at-keyword or hash, the contents of a string or url; for numeric tokens it is
// the number as written ("+1.5e3"), which needs no escaping.
type cssToken struct {
	kind    cssKind
	value   string
	unit    string // dimension only, decoded
	delim   rune   // delim only
	id      bool   // hash only: type "id" (the name would start an identifier)
	tooLong bool   // the value passed maxCSSToken and was cut; the filter drops it
}

// punctuation is the one-character tokens; punctKind and punctChar index it both ways.
var punctuation = []struct {
	c byte
	k cssKind
}{
	{'(', ctOpenParen}, {')', ctCloseParen}, {',', ctComma}, {':', ctColon}, {';', ctSemicolon},
	{'[', ctOpenSquare}, {']', ctCloseSquare}, {'{', ctOpenCurly}, {'}', ctCloseCurly},
}

var (
	punctKind [0x80]cssKind
	punctChar = map[cssKind]string{}
)

func init() {
	for _, p := range punctuation {
		punctKind[p.c] = p.k
		punctChar[p.k] = string(p.c)
	}
}

const eof = -1

// cssTokenizer reads code points with the preprocessing of §3.3 (CR, CRLF and FF become LF;
// NUL and invalid UTF-8 become U+FFFD) and up to four code points of lookahead.
type cssTokenizer struct {
	r   io.RuneScanner
	la  [4]rune
	n   int   // code points in la
	err error // a read error other than io.EOF
	val []byte
}

func newCSSTokenizer(r io.RuneScanner) *cssTokenizer {
	return &cssTokenizer{r: r}
}

func (t *cssTokenizer) read() rune {
	if t.err != nil {
		return eof
	}
	c, _, err := t.r.ReadRune()
	if err != nil {
		if !errors.Is(err, io.EOF) {
			t.err = err
		}
		return eof
	}
	switch c {
	case '\r':
		if d, _, err := t.r.ReadRune(); err == nil && d != '\n' {
			_ = t.r.UnreadRune()
		}
		return '\n'
	case '\f':
		return '\n'
	case 0:
		return utf8.RuneError
	}
	return c
}

func (t *cssTokenizer) peek(i int) rune {
	for t.n <= i {
		t.la[t.n] = t.read()
		t.n++
	}
	return t.la[i]
}

func (t *cssTokenizer) next() rune {
	c := t.peek(0)
	copy(t.la[:], t.la[1:t.n])
	t.n--
	return c
}

func (t *cssTokenizer) skip(n int) {
	for range n {
		t.next()
	}
}

// Value building, bounded by maxCSSToken.

func (t *cssTokenizer) reset() { t.val = t.val[:0] }

func (t *cssTokenizer) add(c rune, long *bool) {
	if len(t.val)+utf8.UTFMax > maxCSSToken {
		*long = true
		return
	}
	t.val = utf8.AppendRune(t.val, c)
}

func isDigit(c rune) bool      { return '0' <= c && c <= '9' }
func isHexRune(c rune) bool    { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }
func isWhitespace(c rune) bool { return c == '\n' || c == '\t' || c == ' ' }
func isNameStart(c rune) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c >= 0x80
}
func isNameChar(c rune) bool { return isNameStart(c) || isDigit(c) || c == '-' }
func isNonPrintable(c rune) bool {
	return 0 <= c && c <= 8 || c == 0xb || 0xe <= c && c <= 0x1f || c == 0x7f
}

// validEscape: §4.3.8, "check if two code points are a valid escape".
func validEscape(a, b rune) bool { return a == '\\' && b != '\n' }

// startsIdent: §4.3.9, "check if three code points would start an ident sequence".
func startsIdent(a, b, c rune) bool {
	switch {
	case a == '-':
		return isNameStart(b) || b == '-' || validEscape(b, c)
	case isNameStart(a):
		return true
	case a == '\\':
		return validEscape(a, b)
	}
	return false
}

// startsNumber: §4.3.10, "check if three code points would start a number".
func startsNumber(a, b, c rune) bool {
	switch {
	case a == '+' || a == '-':
		return isDigit(b) || b == '.' && isDigit(c)
	case a == '.':
		return isDigit(b)
	}
	return isDigit(a)
}

// Next returns the next token: §4.3.1, "consume a token". Comments are consumed and never
// returned.
func (t *cssTokenizer) Next() cssToken {
	t.consumeComments()
	c := t.peek(0)
	switch {
	case c == eof:
		return cssToken{kind: ctEOF}
	case isWhitespace(c):
		for isWhitespace(t.peek(0)) {
			t.next()
		}
		return cssToken{kind: ctWhitespace}
	case c == '"' || c == '\'':
		t.next()
		return t.consumeString(c)
	case c == '#':
		if isNameChar(t.peek(1)) || validEscape(t.peek(1), t.peek(2)) {
			t.next()
			tok := cssToken{kind: ctHash, id: startsIdent(t.peek(0), t.peek(1), t.peek(2))}
			tok.value, tok.tooLong = t.consumeName()
			return tok
		}
	case c == '+' || c == '.':
		if startsNumber(c, t.peek(1), t.peek(2)) {
			return t.consumeNumeric()
		}
	case c == '-':
		if startsNumber(c, t.peek(1), t.peek(2)) {
			return t.consumeNumeric()
		}
		if t.peek(1) == '-' && t.peek(2) == '>' {
			t.skip(3)
			return cssToken{kind: ctCDC}
		}
		if startsIdent(c, t.peek(1), t.peek(2)) {
			return t.consumeIdentLike()
		}
	case c == '<':
		if t.peek(1) == '!' && t.peek(2) == '-' && t.peek(3) == '-' {
			t.skip(4)
			return cssToken{kind: ctCDO}
		}
	case c == '@':
		if startsIdent(t.peek(1), t.peek(2), t.peek(3)) {
			t.next()
			name, long := t.consumeName()
			return cssToken{kind: ctAtKeyword, value: name, tooLong: long}
		}
	case c == '\\':
		if validEscape(c, t.peek(1)) {
			return t.consumeIdentLike()
		}
	case isDigit(c):
		return t.consumeNumeric()
	case isNameStart(c):
		return t.consumeIdentLike()
	}
	t.next()
	if c < 0x80 && punctKind[c] != 0 {
		return cssToken{kind: punctKind[c]}
	}
	return cssToken{kind: ctDelim, delim: c}
}

// consumeComments: §4.3.2.
func (t *cssTokenizer) consumeComments() {
	for t.peek(0) == '/' && t.peek(1) == '*' {
		t.skip(2)
		for {
			c := t.next()
			if c == eof {
				return
			}
			if c == '*' && t.peek(0) == '/' {
				t.next()
				break
			}
		}
	}
}

// consumeNumeric: §4.3.3.
func (t *cssTokenizer) consumeNumeric() cssToken {
	repr, long := t.consumeNumber()
	if startsIdent(t.peek(0), t.peek(1), t.peek(2)) {
		unit, ulong := t.consumeName()
		return cssToken{kind: ctDimension, value: repr, unit: unit, tooLong: long || ulong}
	}
	if t.peek(0) == '%' {
		t.next()
		return cssToken{kind: ctPercentage, value: repr, tooLong: long}
	}
	return cssToken{kind: ctNumber, value: repr, tooLong: long}
}

// consumeIdentLike: §4.3.4, including the special case of url(.
func (t *cssTokenizer) consumeIdentLike() cssToken {
	name, long := t.consumeName()
	if t.peek(0) == '(' && asciiLower(name) == "url" {
		t.next()
		for isWhitespace(t.peek(0)) && isWhitespace(t.peek(1)) {
			t.next()
		}
		q := t.peek(0)
		if isWhitespace(q) {
			q = t.peek(1)
		}
		if q == '"' || q == '\'' {
			return cssToken{kind: ctFunction, value: name, tooLong: long}
		}
		return t.consumeURL()
	}
	if t.peek(0) == '(' {
		t.next()
		return cssToken{kind: ctFunction, value: name, tooLong: long}
	}
	return cssToken{kind: ctIdent, value: name, tooLong: long}
}

// consumeString: §4.3.5. ending is the quote that opened it.
func (t *cssTokenizer) consumeString(ending rune) cssToken {
	t.reset()
	long := false
	for {
		c := t.peek(0)
		switch {
		case c == ending:
			t.next()
			return cssToken{kind: ctString, value: string(t.val), tooLong: long}
		case c == eof:
			return cssToken{kind: ctString, value: string(t.val), tooLong: long}
		case c == '\n':
			return cssToken{kind: ctBadString}
		case c == '\\':
			t.next()
			switch t.peek(0) {
			case eof:
			case '\n':
				t.next()
			default:
				t.add(t.consumeEscape(), &long)
			}
		default:
			t.next()
			t.add(c, &long)
		}
	}
}

// consumeURL: §4.3.6. The "url(" has been consumed.
func (t *cssTokenizer) consumeURL() cssToken {
	t.reset()
	long := false
	for isWhitespace(t.peek(0)) {
		t.next()
	}
	for {
		c := t.next()
		switch {
		case c == ')' || c == eof:
			return cssToken{kind: ctURL, value: string(t.val), tooLong: long}
		case isWhitespace(c):
			for isWhitespace(t.peek(0)) {
				t.next()
			}
			if d := t.peek(0); d == ')' || d == eof {
				t.next()
				return cssToken{kind: ctURL, value: string(t.val), tooLong: long}
			}
			t.consumeBadURLRemnants()
			return cssToken{kind: ctBadURL}
		case c == '"' || c == '\'' || c == '(' || isNonPrintable(c):
			t.consumeBadURLRemnants()
			return cssToken{kind: ctBadURL}
		case c == '\\':
			if !validEscape(c, t.peek(0)) {
				t.consumeBadURLRemnants()
				return cssToken{kind: ctBadURL}
			}
			t.add(t.consumeEscape(), &long)
		default:
			t.add(c, &long)
		}
	}
}

// consumeEscape: §4.3.7. The backslash has been consumed.
func (t *cssTokenizer) consumeEscape() rune {
	c := t.next()
	switch {
	case c == eof:
		return utf8.RuneError
	case isHexRune(c):
		v := hexValue(c)
		for i := 1; i < 6 && isHexRune(t.peek(0)); i++ {
			v = v*16 + hexValue(t.next())
		}
		if isWhitespace(t.peek(0)) {
			t.next()
		}
		if v == 0 || 0xd800 <= v && v <= 0xdfff || v > utf8.MaxRune {
			return utf8.RuneError
		}
		return v
	}
	return c
}

func hexValue(c rune) rune {
	switch {
	case isDigit(c):
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// consumeName: §4.3.11. The value is bounded; the tokenizer keeps consuming past the bound
// so that it stays in step with the input.
func (t *cssTokenizer) consumeName() (string, bool) {
	t.reset()
	long := false
	for {
		c := t.peek(0)
		switch {
		case isNameChar(c):
			t.next()
			t.add(c, &long)
		case validEscape(c, t.peek(1)):
			t.next()
			t.add(t.consumeEscape(), &long)
		default:
			return string(t.val), long
		}
	}
}

// consumeNumber: §4.3.12, keeping the number's text.
func (t *cssTokenizer) consumeNumber() (string, bool) {
	t.reset()
	long := false
	take := func() { t.add(t.next(), &long) }
	if c := t.peek(0); c == '+' || c == '-' {
		take()
	}
	for isDigit(t.peek(0)) {
		take()
	}
	if t.peek(0) == '.' && isDigit(t.peek(1)) {
		take()
		for isDigit(t.peek(0)) {
			take()
		}
	}
	if c := t.peek(0); c == 'e' || c == 'E' {
		d := t.peek(1)
		if isDigit(d) || (d == '+' || d == '-') && isDigit(t.peek(2)) {
			take()
			if d == '+' || d == '-' {
				take()
			}
			for isDigit(t.peek(0)) {
				take()
			}
		}
	}
	return string(t.val), long
}

// consumeBadURLRemnants: §4.3.14.
func (t *cssTokenizer) consumeBadURLRemnants() {
	for {
		c := t.next()
		if c == ')' || c == eof {
			return
		}
		if validEscape(c, t.peek(0)) {
			t.consumeEscape()
		}
	}
}

// asciiLower lower-cases ASCII letters only, as CSS's "ASCII case-insensitive" compares.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
