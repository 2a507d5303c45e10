package filter

import (
	"io"
	"strings"
	"unicode/utf8"
)

// cssWriter serialises tokens so that a browser tokenising the output gets the same tokens
// back (CSS Syntax §9): values are escaped where they must be, and an empty comment goes
// between two tokens that would otherwise run together ("expression" and "(" must not become
// "expression("). It never writes "<" followed by anything but a space, or a "<" inside a
// string or name, so the output can stand inside a <style> element without "</style".
type cssWriter struct {
	w    io.Writer
	buf  []byte
	prev cssToken // last token written; ctEOF at the start and after whitespace
	err  error
}

func (cw *cssWriter) flush() error {
	if len(cw.buf) > 0 && cw.err == nil {
		_, cw.err = cw.w.Write(cw.buf)
	}
	cw.buf = cw.buf[:0]
	return cw.err
}

func (cw *cssWriter) raw(s string) {
	cw.buf = append(cw.buf, s...)
	if len(cw.buf) >= 32<<10 {
		cw.flush()
	}
}

// space writes one whitespace token, collapsing runs.
func (cw *cssWriter) space() {
	if cw.prev.kind == ctWhitespace || cw.prev.kind == ctEOF {
		return
	}
	cw.raw(" ")
	cw.prev = cssToken{kind: ctWhitespace}
}

// newline ends a rule or declaration for readability; it counts as whitespace.
func (cw *cssWriter) newline() {
	if cw.prev.kind == ctEOF {
		return
	}
	if cw.prev.kind == ctWhitespace {
		if n := len(cw.buf); n > 0 && cw.buf[n-1] == ' ' {
			cw.buf[n-1] = '\n'
		}
		return
	}
	cw.raw("\n")
	cw.prev = cssToken{kind: ctWhitespace}
}

func (cw *cssWriter) token(t cssToken) {
	if t.kind == ctWhitespace {
		cw.space()
		return
	}
	if needSeparator(cw.prev, t) {
		cw.raw("/**/")
	}
	switch t.kind {
	case ctIdent:
		cw.ident(t.value)
	case ctFunction:
		cw.ident(t.value)
		cw.raw("(")
	case ctAtKeyword:
		cw.raw("@")
		cw.ident(t.value)
	case ctHash:
		cw.raw("#")
		if t.id {
			cw.ident(t.value)
		} else {
			cw.name(t.value)
		}
	case ctString:
		cw.str(t.value)
	case ctURL:
		// Only the rewriter's output reaches here: a proxy path or fragment made of
		// characters that need no escaping in a url token.
		cw.raw("url(")
		cw.raw(t.value)
		cw.raw(")")
	case ctDelim:
		if t.delim == '\\' {
			return // only an escape can follow a backslash; the filter drops these
		}
		cw.buf = utf8.AppendRune(cw.buf, t.delim)
		if t.delim == '<' {
			cw.raw(" ")
			cw.prev = cssToken{kind: ctWhitespace}
			return
		}
	case ctNumber:
		cw.raw(t.value)
	case ctPercentage:
		cw.raw(t.value)
		cw.raw("%")
	case ctDimension:
		cw.raw(t.value)
		u := t.unit
		// A unit that starts like an exponent ("e3", "e-3") would join the number.
		if len(u) > 1 && (u[0] == 'e' || u[0] == 'E') &&
			(isDigit(rune(u[1])) || (u[1] == '+' || u[1] == '-') && len(u) > 2 && isDigit(rune(u[2]))) {
			cw.hexEscape(rune(u[0]))
			cw.name(u[1:])
		} else {
			cw.ident(u)
		}
	case ctColon, ctSemicolon, ctComma, ctOpenSquare, ctCloseSquare, ctOpenParen,
		ctCloseParen, ctOpenCurly, ctCloseCurly:
		cw.raw(punctChar[t.kind])
	default:
		return // bad strings, bad urls, CDO and CDC are never written
	}
	cw.prev = t
}

// Categories of the token that follows, for needSeparator.
const (
	catIdentLike = 1 << iota // ident, function, url, bad url
	catMinus                 // delim '-'
	catNumeric               // number, percentage, dimension
	catCDC
	catParen   // '('
	catPercent // delim '%'
	catStar    // delim '*'
)

func category(t cssToken) int {
	switch t.kind {
	case ctIdent, ctFunction, ctURL, ctBadURL:
		return catIdentLike
	case ctNumber, ctPercentage, ctDimension:
		return catNumeric
	case ctCDC:
		return catCDC
	case ctOpenParen:
		return catParen
	case ctDelim:
		switch t.delim {
		case '-':
			return catMinus
		case '%':
			return catPercent
		case '*':
			return catStar
		}
	}
	return 0
}

// needSeparator is the table of CSS Syntax §9: pairs of tokens that must be separated by a
// comment to tokenise back as two. It errs on the side of separating (numbers before '-').
func needSeparator(prev, next cssToken) bool {
	c := category(next)
	// A number written with a leading '+' cannot join what comes before it (neither can
	// one with a leading '.', except after a number): "2n+1", "a .5". The exception is a
	// dimension whose unit is "e", which would become an exponent: "1e" "+1".
	if c == catNumeric && len(next.value) > 0 &&
		(next.value[0] == '+' || next.value[0] == '.' && prev.kind != ctNumber) &&
		!(prev.kind == ctDimension && (prev.unit == "e" || prev.unit == "E")) {
		c = 0
	}
	const common = catIdentLike | catMinus | catNumeric | catCDC
	switch prev.kind {
	case ctIdent:
		return c&(common|catParen) != 0
	case ctAtKeyword, ctHash, ctDimension:
		return c&common != 0
	case ctNumber:
		return c&(common|catPercent) != 0
	case ctDelim:
		switch prev.delim {
		case '#', '-':
			return c&common != 0
		case '@':
			return c&(catIdentLike|catMinus|catCDC) != 0
		case '.', '+':
			return c&catNumeric != 0
		case '/':
			return c&catStar != 0
		}
	}
	return false
}

// ident writes an identifier as CSSOM's "serialize an identifier" does, and also escapes
// '<', '>' and '&' so that the output is safe inside <style>.
func (cw *cssWriter) ident(s string) {
	if s == "-" {
		cw.raw(`\-`)
		return
	}
	for i, r := range s {
		switch {
		case i == 0 && isDigit(r), i == 1 && isDigit(r) && s[0] == '-':
			cw.hexEscape(r)
		default:
			cw.nameRune(r)
		}
	}
}

// name writes a name (a hash's value, a unit's tail) where a leading digit needs no escape.
func (cw *cssWriter) name(s string) {
	for _, r := range s {
		cw.nameRune(r)
	}
}

func (cw *cssWriter) nameRune(r rune) {
	switch {
	case r < 0x20 || r == 0x7f || r == '<' || r == '>' || r == '&':
		cw.hexEscape(r)
	case isNameChar(r):
		cw.buf = utf8.AppendRune(cw.buf, r)
	default:
		cw.buf = append(cw.buf, '\\')
		cw.buf = utf8.AppendRune(cw.buf, r)
	}
}

func (cw *cssWriter) hexEscape(r rune) {
	const hexDigits = "0123456789abcdef"
	cw.buf = append(cw.buf, '\\')
	started := false
	for shift := 20; shift >= 0; shift -= 4 {
		d := (r >> shift) & 15
		if d != 0 || started || shift == 0 {
			cw.buf = append(cw.buf, hexDigits[d])
			started = true
		}
	}
	cw.buf = append(cw.buf, ' ')
}

// str writes a string in double quotes.
func (cw *cssWriter) str(s string) {
	cw.buf = append(cw.buf, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\' || r == '<' || r == '>' || r == '&' || r < 0x20 || r == 0x7f:
			cw.hexEscape(r)
		default:
			cw.buf = utf8.AppendRune(cw.buf, r)
		}
	}
	cw.buf = append(cw.buf, '"')
}

// cssString is the serialisation of tokens on their own, for style attributes.
func cssString(toks []cssToken) string {
	var sb strings.Builder
	cw := cssWriter{w: &sb}
	for _, t := range toks {
		cw.token(t)
	}
	cw.flush()
	return sb.String()
}
