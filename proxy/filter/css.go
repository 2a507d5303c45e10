package filter

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// CSS filters a stylesheet from src to dst (spec §17.4). page is where the stylesheet
// lives: its relative url()s resolve against it. The input is read as UTF-8 (bytes that are
// not become U+FFFD) and the output is UTF-8. It streams: rules are written as they are
// read, and memory stays bounded whatever the input. An error is returned only for a bad
// page or a failing reader or writer; anything in the stylesheet that the filter does not
// accept is dropped, never reported.
func CSS(dst io.Writer, src io.Reader, page Page) error {
	rw, err := newRewriter(page)
	if err != nil {
		return err
	}
	f := newCSSFilter(bufio.NewReader(src), dst, rw)
	f.contents(0, ctxRules|ctxTop|ctxAtRules)
	if err := f.out.flush(); err != nil {
		return fmt.Errorf("filter: write CSS: %w", err)
	}
	if f.tz.err != nil {
		return fmt.Errorf("filter: read CSS: %w", f.tz.err)
	}
	return nil
}

// StyleAttribute filters the value of a style="…" attribute: a list of declarations, of
// which those the filter accepts are kept (spec §17.4).
func StyleAttribute(value string, page Page) (string, error) {
	rw, err := newRewriter(page)
	if err != nil {
		return "", err
	}
	return rw.styleAttribute(value), nil
}

func (rw *rewriter) styleAttribute(value string) string {
	var sb strings.Builder
	f := newCSSFilter(strings.NewReader(value), &sb, rw)
	f.contents(0, ctxDecls)
	f.out.flush()
	return strings.TrimSpace(sb.String())
}

// stylesheet filters the body of a <style> element.
func (rw *rewriter) stylesheet(body string) string {
	var sb strings.Builder
	f := newCSSFilter(strings.NewReader(body), &sb, rw)
	f.contents(0, ctxRules|ctxTop|ctxAtRules)
	f.out.flush()
	return sb.String()
}

// cssCtx says what a list of statements may hold.
type cssCtx uint8

const (
	ctxRules   cssCtx = 1 << iota // qualified rules (selectors with blocks)
	ctxDecls                      // declarations
	ctxTop                        // @import: the top level of a stylesheet
	ctxAtRules                    // at-rules (everywhere but in a style attribute)
)

type cssFilter struct {
	tz      *cssTokenizer
	out     cssWriter
	rw      *rewriter
	look    cssToken
	hasLook bool
	stmt    []cssToken // the statement being collected
	scratch []cssToken // checkTokens' output
	stack   []cssKind  // closers expected by collect and skipBlock
	// dead is set when nesting passes maxCSSNesting: the filter cannot follow the input's
	// structure with bounded memory, so it stops and drops the rest.
	dead bool
}

func newCSSFilter(src io.RuneScanner, dst io.Writer, rw *rewriter) *cssFilter {
	return &cssFilter{tz: newCSSTokenizer(src), out: cssWriter{w: dst}, rw: rw}
}

func (f *cssFilter) peek() cssToken {
	if !f.hasLook {
		f.look, f.hasLook = f.tz.Next(), true
	}
	return f.look
}

func (f *cssFilter) next() cssToken {
	t := f.peek()
	f.hasLook = false
	return t
}

// contents filters a list of statements (CSS Syntax §5.4.1, §5.4.4) until EOF or, inside a
// block (depth > 0), the '}' that closes it, which is left for the caller.
func (f *cssFilter) contents(depth int, ctx cssCtx) {
	for !f.dead {
		switch t := f.peek(); t.kind {
		case ctEOF:
			return
		case ctCloseCurly:
			if depth > 0 {
				return
			}
			f.next()
		case ctWhitespace, ctSemicolon, ctCDO, ctCDC:
			f.next()
		case ctAtKeyword:
			if ctx&ctxAtRules == 0 {
				f.next()
				if end, _ := f.collect(); end == ctOpenCurly {
					f.skipBlock()
				}
				continue
			}
			f.atRule(depth, ctx)
		default:
			f.statement(depth, ctx)
		}
	}
}

// collect reads one statement's component values into f.stmt: up to a ';' or '{' outside
// any block (consumed and returned), or a '}' closing the enclosing block or EOF (left and
// returned). Inside (), [] and functions, ';', '{' and stray closers are ordinary tokens,
// as in a browser. ok is false if the statement holds a bad string or url or a token that
// was too long, or if it passed maxCSSStatement tokens or maxCSSDepth nesting; it is then
// consumed but dropped.
func (f *cssFilter) collect() (end cssKind, ok bool) {
	f.stmt, f.stack = f.stmt[:0], f.stack[:0]
	ok = true
	for {
		t := f.peek()
		if len(f.stack) == 0 {
			switch t.kind {
			case ctSemicolon, ctOpenCurly:
				f.next()
				return t.kind, ok
			case ctCloseCurly, ctEOF:
				return t.kind, ok
			}
		}
		f.next()
		if t.kind == ctEOF {
			for i := len(f.stack) - 1; i >= 0; i-- {
				f.stmt = append(f.stmt, cssToken{kind: f.stack[i]})
			}
			return ctEOF, ok
		}
		if t.kind == ctBadString || t.kind == ctBadURL {
			ok = false
		}
		if f.nest(t.kind); f.dead {
			return ctEOF, false
		}
		if t.tooLong || len(f.stmt) >= maxCSSStatement || len(f.stack) > maxCSSDepth {
			ok = false
		}
		if ok {
			f.stmt = append(f.stmt, t)
		}
	}
}

// skipBlock consumes the rest of a block whose '{' has been read, writing nothing.
func (f *cssFilter) skipBlock() {
	f.stack = append(f.stack[:0], ctCloseCurly)
	for len(f.stack) > 0 && !f.dead {
		t := f.next()
		if t.kind == ctEOF {
			return
		}
		f.nest(t.kind)
	}
}

// nest keeps f.stack, the closers the input owes, in step with one token (CSS Syntax §5.4:
// inside a block only its own closer ends it; other closers are ordinary tokens). Past
// maxCSSNesting it gives up and sets f.dead.
func (f *cssFilter) nest(k cssKind) {
	switch k {
	case ctFunction, ctOpenParen:
		f.stack = append(f.stack, ctCloseParen)
	case ctOpenSquare:
		f.stack = append(f.stack, ctCloseSquare)
	case ctOpenCurly:
		f.stack = append(f.stack, ctCloseCurly)
	case ctCloseParen, ctCloseSquare, ctCloseCurly:
		if n := len(f.stack); n > 0 && f.stack[n-1] == k {
			f.stack = f.stack[:n-1]
		}
	}
	if len(f.stack) > maxCSSNesting {
		f.dead = true
	}
}

// block filters the contents of a block whose opening has been written, then closes it.
func (f *cssFilter) block(depth int, ctx cssCtx) {
	f.out.token(cssToken{kind: ctOpenCurly})
	f.contents(depth+1, ctx)
	if f.peek().kind == ctCloseCurly {
		f.next()
	}
	f.out.token(cssToken{kind: ctCloseCurly})
	f.out.newline()
}

// statement filters a qualified rule or a declaration.
func (f *cssFilter) statement(depth int, ctx cssCtx) {
	end, ok := f.collect()
	if end == ctOpenCurly {
		prelude := trimSpace(f.stmt)
		if ok && ctx&ctxRules != 0 && len(prelude) > 0 && depth < maxCSSDepth && !declarationLike(prelude) {
			if out, ok := f.checkTokens(prelude, checkPrelude); ok {
				for _, t := range out {
					f.out.token(t)
				}
				f.block(depth, ctxRules|ctxDecls|ctxAtRules)
				return
			}
		}
		f.skipBlock()
		return
	}
	if ok && ctx&ctxDecls != 0 {
		f.declaration(f.stmt)
	}
}

// declarationLike reports whether a rule's prelude reads as the start of a declaration of a
// denied property ("behavior:{…}"), or ends in a colon, which no valid selector does. Inside
// a nested rule a browser reads "name:" followed by a block as a declaration, so such a rule
// is dropped rather than written where it could turn into one.
func declarationLike(prelude []cssToken) bool {
	if prelude[len(prelude)-1].kind == ctColon {
		return true
	}
	if prelude[0].kind != ctIdent || !deniedProperties[stripVendor(asciiLower(prelude[0].value))] {
		return false
	}
	for _, t := range prelude[1:] {
		if t.kind != ctWhitespace {
			return t.kind == ctColon
		}
	}
	return false
}

// declaration writes "name:value;" if the declaration is one the filter accepts: a property
// that is not on the deny-list (behaviours and bindings, which load code), with a value that
// passes checkTokens.
func (f *cssFilter) declaration(toks []cssToken) {
	toks = trimSpace(toks)
	if len(toks) < 2 || toks[0].kind != ctIdent {
		return
	}
	name := toks[0].value
	i := 1
	for i < len(toks) && toks[i].kind == ctWhitespace {
		i++
	}
	if i == len(toks) || toks[i].kind != ctColon {
		return
	}
	if i+1 < len(toks) && toks[i+1].kind == ctIdent && asciiLower(toks[i+1].value) == "visited" {
		return // "a:visited" is no declaration anyone needs, and reads like the selector
	}
	value := trimSpace(toks[i+1:])
	custom := strings.HasPrefix(name, "--")
	if !custom {
		name = asciiLower(name)
		if deniedProperties[stripVendor(name)] || len(value) == 0 || name == "expression" {
			return
		}
	}
	mode := checkValue
	if name == "content" {
		mode = checkContent
	}
	out, ok := f.checkTokens(value, mode)
	if !ok {
		return
	}
	f.out.token(cssToken{kind: ctIdent, value: name})
	f.out.token(cssToken{kind: ctColon})
	for _, t := range out {
		f.out.token(t)
	}
	f.out.token(cssToken{kind: ctSemicolon})
}

// deniedProperties load code or documents: IE's behavior, Mozilla's -moz-binding (XBL),
// Opera's -o-link. Matched after the vendor prefix is stripped.
var deniedProperties = map[string]bool{
	"behavior": true, "binding": true, "link": true, "link-source": true,
}

// atRuleKind says what the block of an at-rule holds.
type atRuleKind uint8

const (
	atDrop      atRuleKind = iota
	atGroup                // rules (and, nested in a style rule, declarations)
	atDecls                // declarations and nested at-rules
	atKeyframes            // keyframe rules: "from", "50%" { declarations }
)

// atRules is the allow-list of at-rules, by name without vendor prefix. @import is handled
// apart; @charset and @namespace are dropped (the output is UTF-8 and has no prefixes);
// anything unknown (@document, @-moz-document, …) is dropped with its block.
var atRules = map[string]atRuleKind{
	"media": atGroup, "supports": atGroup, "container": atGroup, "layer": atGroup,
	"scope": atGroup, "starting-style": atGroup,
	"font-face": atDecls, "page": atDecls, "counter-style": atDecls, "property": atDecls,
	"font-palette-values": atDecls, "font-feature-values": atDecls, "view-transition": atDecls,
	"position-try": atDecls,
	"swash":        atDecls, "annotation": atDecls, "ornaments": atDecls, "stylistic": atDecls,
	"styleset": atDecls, "character-variant": atDecls, "historical-forms": atDecls,
	"top-left-corner": atDecls, "top-left": atDecls, "top-center": atDecls, "top-right": atDecls,
	"top-right-corner": atDecls, "bottom-left-corner": atDecls, "bottom-left": atDecls,
	"bottom-center": atDecls, "bottom-right": atDecls, "bottom-right-corner": atDecls,
	"left-top": atDecls, "left-middle": atDecls, "left-bottom": atDecls, "right-top": atDecls,
	"right-middle": atDecls, "right-bottom": atDecls,
	"keyframes": atKeyframes,
}

func (f *cssFilter) atRule(depth int, ctx cssCtx) {
	kw := f.next()
	name := asciiLower(kw.value)
	end, ok := f.collect()
	ok = ok && !kw.tooLong
	prelude := trimSpace(f.stmt)
	kind := atRules[stripVendor(name)]
	switch {
	case !ok:
	case name == "import":
		if ctx&ctxTop != 0 && end != ctOpenCurly {
			f.importRule(prelude)
		}
	case end == ctOpenCurly && kind != atDrop && depth < maxCSSDepth:
		out, ok := f.checkTokens(prelude, checkPrelude)
		if !ok {
			break
		}
		f.atPrelude(name, out)
		inner := ctxDecls | ctxAtRules
		switch kind {
		case atGroup:
			inner = ctx&ctxDecls | ctxRules | ctxAtRules
		case atKeyframes:
			inner = ctxRules
		}
		f.block(depth, inner)
		return
	case end != ctOpenCurly && name == "layer" && len(prelude) > 0:
		// The statement form, "@layer base, theme;", declares the order of layers.
		if out, ok := f.checkTokens(prelude, checkPrelude); ok {
			f.atPrelude(name, out)
			f.out.token(cssToken{kind: ctSemicolon})
			f.out.newline()
		}
	}
	if end == ctOpenCurly {
		f.skipBlock()
	}
}

func (f *cssFilter) atPrelude(name string, prelude []cssToken) {
	f.out.token(cssToken{kind: ctAtKeyword, value: name})
	if len(prelude) > 0 {
		f.out.space()
		for _, t := range prelude {
			f.out.token(t)
		}
	}
}

// importRule keeps "@import url(…) conditions;" when the stylesheet it loads stays in the
// network; the proxy filters that stylesheet too when the browser asks for it.
func (f *cssFilter) importRule(prelude []cssToken) {
	if len(prelude) == 0 {
		return
	}
	var target string
	rest := prelude[1:]
	switch t := prelude[0]; {
	case t.kind == ctURL || t.kind == ctString:
		target = t.value
	case t.kind == ctFunction && asciiLower(t.value) == "url":
		s, n, ok := urlFunctionArg(prelude, 0)
		if !ok {
			return
		}
		target, rest = s, prelude[n+1:]
	default:
		return
	}
	p, ok := f.rw.rewrite(target, refResource)
	if !ok || strings.HasPrefix(p, "#") {
		return
	}
	out, ok := f.checkTokens(trimSpace(rest), checkPrelude)
	if !ok {
		return
	}
	f.out.token(cssToken{kind: ctAtKeyword, value: "import"})
	f.out.space()
	f.out.token(cssToken{kind: ctURL, value: p})
	if len(out) > 0 {
		f.out.space()
		for _, t := range out {
			f.out.token(t)
		}
	}
	f.out.token(cssToken{kind: ctSemicolon})
	f.out.newline()
}

// urlFunctionArg reads url("…") or src("…") starting at the function token toks[i]: the
// string, then optional whitespace and ')'. It returns the string and the index of the ')'.
// Modifiers after the string (url("x" crossorigin(…))) are not accepted.
func urlFunctionArg(toks []cssToken, i int) (string, int, bool) {
	j := i + 1
	for j < len(toks) && toks[j].kind == ctWhitespace {
		j++
	}
	if j == len(toks) || toks[j].kind != ctString {
		return "", 0, false
	}
	s := toks[j].value
	j++
	for j < len(toks) && toks[j].kind == ctWhitespace {
		j++
	}
	if j == len(toks) || toks[j].kind != ctCloseParen {
		return "", 0, false
	}
	return s, j, true
}

// checkTokens filters the component values of a selector, an at-rule prelude or a
// declaration value (spec §17.4). It returns the tokens to write, or ok=false if the whole
// statement must go:
//   - every url token, url("…") and src("…") must stay in the network: it is rewritten to a
//     proxy path, or the statement is dropped;
//   - strings directly inside image-set() and image() are URLs too, and are rewritten the
//     same way; var(), env() and attr() may not appear inside those, since they could
//     substitute a string that was never checked;
//   - every function must be on the allow-list (so expression(), paint(), element() and
//     any function a browser adds later to load something are dropped); attr() only in
//     "content" (allowAttr);
//   - the identifier "expression", at-keywords, "{" blocks and bad tokens drop the statement;
//   - ":visited" drops the statement, so no rule can style a link by the user's history;
//   - a string that is an address outside the network ("http://…", "//…") drops the
//     statement, except in an attribute selector (a[href^="http://"]): no property today
//     loads a plain string, but a value kept for var() should not carry an address to one
//     that might.
func (f *cssFilter) checkTokens(toks []cssToken, mode checkMode) ([]cssToken, bool) {
	out := f.scratch[:0]
	defer func() { f.scratch = out[:0] }()
	type open struct {
		closer     cssKind
		urlStrings bool // strings directly inside are URLs (image-set, image)
	}
	var stack []open
	inSquare := func(stack []open) bool {
		for _, o := range stack {
			if o.closer == ctCloseSquare {
				return true
			}
		}
		return false
	}
	inURL := 0 // open functions whose arguments are URLs
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch t.kind {
		case ctURL:
			p, ok := f.rw.rewrite(t.value, refResource)
			if !ok {
				return nil, false
			}
			out = append(out, cssToken{kind: ctURL, value: p})
			continue
		case ctFunction:
			name := stripVendor(asciiLower(t.value))
			if name == "url" || name == "src" {
				s, j, ok := urlFunctionArg(toks, i)
				if !ok {
					return nil, false
				}
				p, ok := f.rw.rewrite(s, refResource)
				if !ok {
					return nil, false
				}
				out = append(out, cssToken{kind: ctURL, value: p})
				i = j
				continue
			}
			if !allowedFunctions[name] ||
				(name == "var" || name == "env" || name == "attr") && inURL > 0 ||
				name == "attr" && mode != checkContent {
				return nil, false
			}
			u := urlFunctions[name]
			if u {
				inURL++
			}
			stack = append(stack, open{closer: ctCloseParen, urlStrings: u})
		case ctOpenParen:
			stack = append(stack, open{closer: ctCloseParen})
		case ctOpenSquare:
			stack = append(stack, open{closer: ctCloseSquare})
		case ctCloseParen, ctCloseSquare:
			if n := len(stack); n > 0 && stack[n-1].closer == t.kind {
				if stack[n-1].urlStrings {
					inURL--
				}
				stack = stack[:n-1]
			}
		case ctString:
			if n := len(stack); n > 0 && stack[n-1].urlStrings {
				p, ok := f.rw.rewrite(t.value, refResource)
				if !ok || strings.HasPrefix(p, "#") {
					return nil, false
				}
				out = append(out, cssToken{kind: ctURL, value: p})
				continue
			}
			if addressLike(t.value) && !(mode == checkPrelude && inSquare(stack)) {
				return nil, false
			}
		case ctIdent, ctHash:
			if asciiLower(t.value) == "expression" {
				return nil, false
			}
		case ctColon:
			if i+1 < len(toks) && toks[i+1].kind == ctIdent && asciiLower(toks[i+1].value) == "visited" {
				return nil, false
			}
		case ctAtKeyword, ctOpenCurly, ctCloseCurly, ctBadString, ctBadURL:
			return nil, false
		case ctDelim:
			if t.delim == '\\' {
				return nil, false
			}
		case ctCDO, ctCDC:
			continue
		}
		out = append(out, t)
	}
	for i := len(stack) - 1; i >= 0; i-- {
		out = append(out, cssToken{kind: stack[i].closer})
	}
	return out, true
}

// checkMode says what checkTokens is looking at.
type checkMode uint8

const (
	checkPrelude checkMode = iota // a selector or at-rule prelude: strings are just text
	checkValue                    // a declaration's value
	checkContent                  // the value of "content", where attr() is allowed
)

// addressLike reports whether a string is an address a browser could fetch from outside:
// protocol-relative, or with a scheme that loads something.
func addressLike(s string) bool {
	v := strings.ReplaceAll(cleanURL(s), `\`, "/")
	if strings.HasPrefix(v, "//") {
		return true
	}
	scheme, _, ok := splitScheme(v)
	return ok && fetchSchemes[scheme]
}

var fetchSchemes = map[string]bool{
	"http": true, "https": true, "ftp": true, "file": true, "data": true, "blob": true,
	"javascript": true, "vbscript": true, "ws": true, "wss": true,
}

// urlFunctions take images, and so URLs written as plain strings.
var urlFunctions = map[string]bool{"image-set": true, "image": true, "cross-fade": true}

// allowedFunctions is the allow-list of CSS functions, by name without vendor prefix:
// colours, maths, gradients, transforms, filters, shapes, grid and counter helpers, and the
// functional pseudo-classes and conditions of selectors and at-rule preludes. None of them
// fetches anything except through a url token, which is checked on its own. url() and src()
// are handled apart.
var allowedFunctions = func() map[string]bool {
	m := map[string]bool{}
	for _, name := range strings.Fields(`
		rgb rgba hsl hsla hwb lab lch oklab oklch color color-mix light-dark contrast-color
		device-cmyk alpha
		calc min max clamp round mod rem abs sign sin cos tan asin acos atan atan2 pow sqrt
		hypot log exp progress calc-size sibling-count sibling-index
		var env attr
		linear-gradient radial-gradient conic-gradient repeating-linear-gradient
		repeating-radial-gradient repeating-conic-gradient gradient image-set image cross-fade
		type
		translate translatex translatey translatez translate3d rotate rotatex rotatey rotatez
		rotate3d scale scalex scaley scalez scale3d skew skewx skewy matrix matrix3d perspective
		blur brightness contrast drop-shadow grayscale hue-rotate invert opacity saturate sepia
		cubic-bezier steps linear
		repeat minmax fit-content counter counters symbols local format tech
		circle ellipse inset polygon path rect xywh shape ray anchor anchor-size scroll view
		not is where has matches any nth-child nth-last-child nth-of-type nth-last-of-type
		nth-col nth-last-col lang dir host host-context slotted part state cue cue-region
		highlight view-transition-group view-transition-image-pair view-transition-old
		view-transition-new active-view-transition-type
		supports layer style selector font-tech font-format scroll-state`) {
		m[name] = true
	}
	return m
}()

// stripVendor removes a vendor prefix: "-webkit-image-set" → "image-set". Custom property
// names ("--x") are left alone.
func stripVendor(name string) string {
	if len(name) > 1 && name[0] == '-' && name[1] != '-' {
		if i := strings.IndexByte(name[1:], '-'); i >= 0 {
			return name[i+2:]
		}
	}
	return name
}

func trimSpace(toks []cssToken) []cssToken {
	for len(toks) > 0 && toks[0].kind == ctWhitespace {
		toks = toks[1:]
	}
	for len(toks) > 0 && toks[len(toks)-1].kind == ctWhitespace {
		toks = toks[:len(toks)-1]
	}
	return toks
}
