package filter

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// ErrTooLarge means one HTML token (a tag with its attributes, a run of text without
// markup, or the body of a <style> element) is larger than the filter holds in memory
// (1 MiB). What was filtered before it has been written.
var ErrTooLarge = errors.New("HTML token too large to filter")

// HTML filters an HTML document from src to dst (spec §17.2). page is where the document
// lives: relative references resolve against it. The input is read as UTF-8 (bytes that are
// not become U+FFFD); the output is UTF-8.
//
// The filter is a tokenizer with a stack of open elements, not a tree builder, so that it
// streams: output starts before the input ends, and memory is bounded by one token
// (ErrTooLarge beyond it) and the stack (maxDepth). It does not try to predict how a
// browser would repair broken markup. Instead it writes only tokens it made itself, in
// canonical form — allowed element names, allowed attributes with checked values in double
// quotes, escaped text, CSS from the CSS filter — so a browser tokenising the output sees
// exactly these tokens, and whatever tree it builds from them holds nothing but them. The
// elements whose content a browser might not parse as markup (script, style, noscript,
// template, svg, math, iframe, xmp, …) are dropped with their content or rewritten
// (<style> through the CSS filter, <xmp> to <pre> with escaped text).
func HTML(dst io.Writer, src io.Reader, page Page) error {
	rw, err := newRewriter(page)
	if err != nil {
		return err
	}
	h := &htmlFilter{z: html.NewTokenizer(src), rw: rw, w: bufio.NewWriterSize(dst, 8<<10)}
	h.z.SetMaxBuf(maxToken)
	err = h.run()
	if ferr := h.w.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("filter: write HTML: %w", ferr)
	}
	return err
}

type openElem struct {
	name, out string // name in the input, name written
}

type htmlFilter struct {
	z  *html.Tokenizer
	rw *rewriter
	w  *bufio.Writer

	stack   []openElem
	skip    string // while non-empty, everything is dropped up to this element's end tag
	skipN   int    // nesting of skip inside itself
	css     bool   // the next text token is the body of a <style> that was written
	started bool   // something has been written (a doctype after that is dropped)
	attrs   []attr
	// badAction is set when the current tag's action attribute leaves the network.
	badAction bool
	err       error // first write error
}

type attr struct{ key, val string }

func (h *htmlFilter) run() error {
	for h.err == nil {
		tt := h.z.Next()
		css := h.css
		h.css = false
		switch tt {
		case html.ErrorToken:
			err := h.z.Err()
			h.closeAll()
			switch {
			case errors.Is(err, io.EOF):
				return h.err
			case errors.Is(err, html.ErrBufferExceeded):
				return fmt.Errorf("filter: %w", ErrTooLarge)
			}
			return fmt.Errorf("filter: read HTML: %w", err)
		case html.TextToken:
			if h.skip != "" {
				continue
			}
			text := h.z.Text()
			if css {
				// The CSS writer never writes "</"; should that ever fail, the
				// stylesheet goes rather than end the <style> early.
				if sheet := h.rw.stylesheet(string(text)); !strings.Contains(sheet, "</") {
					h.writeString(sheet)
				}
			} else {
				h.text(text)
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			h.startTag(tt == html.SelfClosingTagToken)
		case html.EndTagToken:
			name, _ := h.z.TagName()
			h.endTag(string(name))
		case html.DoctypeToken:
			// Any doctype becomes the standards-mode one; one after content is ignored by
			// browsers, and dropped here.
			if !h.started && h.skip == "" {
				h.writeString("<!DOCTYPE html>")
				h.started = true
			}
		case html.CommentToken:
			// Comments are dropped: old browsers ran conditional comments.
		}
	}
	return h.err
}

func (h *htmlFilter) startTag(selfClosing bool) {
	nameB, hasAttr := h.z.TagName()
	name := string(nameB)
	if h.skip != "" {
		if name == h.skip && !selfClosing {
			h.skipN++
		}
		return
	}
	if dropWithContent[name] {
		// A self-closing <svg/> or <math/> is empty; on HTML elements the slash means
		// nothing and the content follows.
		if !(selfClosing && (name == "svg" || name == "math")) {
			h.skip, h.skipN = name, 1
		}
		return
	}
	rule := elements[name]
	if rule == nil {
		return // not allowed: the tag goes, its content stays
	}
	h.implyEnds(name)
	if !rule.void && len(h.stack) >= maxDepth {
		return
	}
	h.attrs, h.badAction = h.attrs[:0], false
	for n := 0; hasAttr && n < maxAttrs; n++ {
		var key, val []byte
		key, val, hasAttr = h.z.TagAttr()
		h.attribute(name, rule, string(key), val)
	}
	out := name
	if r, ok := renamed[name]; ok {
		out = r
	}
	switch name {
	case "link":
		if !h.checkLink() {
			return
		}
	case "meta":
		if !h.checkMeta() {
			return
		}
	case "style":
		if t := h.attrValue("type"); t != "" && t != "text/css" {
			h.skip, h.skipN = name, 1
			return
		}
		h.css = true
	case "form":
		if !h.checkForm() {
			return // the form goes; its fields stay, with nowhere to submit
		}
	}
	h.writeTag(out)
	if !rule.void {
		h.stack = append(h.stack, openElem{name: name, out: out})
	}
}

// implyEnds closes the open elements that a browser would close before this start tag, so
// that later end tags close what the browser has open.
func (h *htmlFilter) implyEnds(name string) {
	if closesP[name] {
		h.closeP()
	}
	if ie, ok := impliedEnd[name]; ok {
		// Close the outermost match inside the scope: a <tbody> ends an open <thead>
		// together with the row and cell inside it.
		at := -1
		for i := len(h.stack) - 1; i >= 0 && !ie.scope[h.stack[i].name]; i-- {
			if ie.closes[h.stack[i].name] {
				at = i
			}
		}
		if at >= 0 {
			h.popTo(at)
		}
	}
}

// closeP closes the nearest open <p> unless a button or table cell comes first.
func (h *htmlFilter) closeP() {
	for i := len(h.stack) - 1; i >= 0; i-- {
		switch h.stack[i].name {
		case "p":
			h.popTo(i)
			return
		case "button", "table", "td", "th":
			return
		}
	}
}

func (h *htmlFilter) endTag(name string) {
	if h.skip != "" {
		if name == h.skip {
			h.skipN--
			if h.skipN == 0 {
				h.skip = ""
			}
		}
		return
	}
	for i := len(h.stack) - 1; i >= 0; i-- {
		if h.stack[i].name == name {
			h.popTo(i)
			return
		}
	}
	// An end tag with nothing to close is dropped.
}

// popTo writes end tags for the open elements down to and including h.stack[i].
func (h *htmlFilter) popTo(i int) {
	for j := len(h.stack) - 1; j >= i; j-- {
		h.writeString("</")
		h.writeString(h.stack[j].out)
		h.writeString(">")
	}
	h.stack = h.stack[:i]
}

func (h *htmlFilter) closeAll() {
	if len(h.stack) > 0 {
		h.popTo(0)
	}
}

// attribute checks one attribute and, if it is allowed, adds it to h.attrs with the value to
// write.
func (h *htmlFilter) attribute(elem string, rule *elemRule, key string, raw []byte) {
	kind := rule.attrs[key]
	if kind == 0 {
		kind = globalAttrs[key]
	}
	if kind == 0 && (strings.HasPrefix(key, "data-") || strings.HasPrefix(key, "aria-")) && plainName(key) {
		kind = attrText
	}
	if kind == 0 || len(raw) > maxAttrLen {
		return
	}
	val := validText(raw)
	switch kind {
	case attrLink, attrResource, attrCite:
		rk := refResource
		if kind == attrLink {
			rk = refLink
		}
		v, ok := h.rw.rewrite(val, rk)
		if !ok {
			return
		}
		val = v
	case attrFormAction:
		v, ok := h.rw.rewrite(val, refForm)
		if !ok {
			h.badAction = true
			return
		}
		val = v
	case attrSrcset:
		v, ok := h.rw.rewriteSrcset(val)
		if !ok {
			return
		}
		val = v
	case attrStyle:
		val = h.rw.styleAttribute(val)
		if val == "" {
			return
		}
	case attrFragment:
		v := cleanURL(val)
		if !strings.HasPrefix(v, "#") {
			return
		}
		val = "#" + escapeFragment(v[1:])
	case attrMIMEType:
		val = strings.ToLower(strings.TrimSpace(val))
		if !plainMIME(val) {
			return
		}
	default:
		if allowed := enumValues[kind]; allowed != nil {
			val = strings.ToLower(strings.TrimSpace(val))
			if !allowed[val] {
				return
			}
		}
	}
	h.attrs = append(h.attrs, attr{key, val})
}

func (h *htmlFilter) attrValue(key string) string {
	for _, a := range h.attrs {
		if a.key == key {
			return a.val
		}
	}
	return ""
}

func (h *htmlFilter) setAttr(key, val string) {
	for i := range h.attrs {
		if h.attrs[i].key == key {
			h.attrs[i].val = val
			return
		}
	}
	h.attrs = append(h.attrs, attr{key, val})
}

// checkLink keeps a <link> only for a stylesheet or icon in the network.
func (h *htmlFilter) checkLink() bool {
	var rels []string
	for r := range strings.FieldsSeq(strings.ToLower(h.attrValue("rel"))) {
		if linkRels[r] {
			rels = append(rels, r)
		}
	}
	href := h.attrValue("href")
	if len(rels) == 0 || href == "" || strings.HasPrefix(href, "#") {
		return false
	}
	h.setAttr("rel", strings.Join(rels, " "))
	return true
}

// checkMeta keeps only descriptive <meta name=… content=…>, with no other attribute: no
// http-equiv (refresh, cookies, policies), no charset (the proxy says UTF-8), no referrer
// policy.
func (h *htmlFilter) checkMeta() bool {
	name := strings.ToLower(strings.TrimSpace(h.attrValue("name")))
	if !metaNames[name] {
		return false
	}
	content := h.attrValue("content")
	h.attrs = append(h.attrs[:0], attr{"name", name}, attr{"content", content})
	return true
}

// checkForm keeps a form only if it submits inside the network (the action was checked
// with refForm in attribute). A form without an action submits to its own page, which is
// written out so that nothing depends on the document's address. The proxy's own pages
// are not key paths, so no form can post to them.
func (h *htmlFilter) checkForm() bool {
	if h.badAction {
		return false
	}
	if h.attrValue("action") == "" {
		h.setAttr("action", escapePath(h.rw.base))
	}
	return true
}

// writeTag writes a start tag with h.attrs.
func (h *htmlFilter) writeTag(name string) {
	h.started = true
	h.writeString("<")
	h.writeString(name)
	for _, a := range h.attrs {
		h.writeString(" ")
		h.writeString(a.key)
		h.writeString(`="`)
		h.escape(a.val, true)
		h.writeString(`"`)
	}
	h.writeString(">")
}

// text writes character data, escaped, with invalid UTF-8 and NUL replaced by U+FFFD.
func (h *htmlFilter) text(b []byte) {
	if len(b) == 0 {
		return
	}
	if len(bytes.TrimLeft(b, " \t\n\f\r")) > 0 {
		h.started = true
	}
	h.escapeBytes(b)
}

func (h *htmlFilter) writeString(s string) {
	if h.err != nil {
		return
	}
	if _, err := h.w.WriteString(s); err != nil {
		h.err = fmt.Errorf("filter: write HTML: %w", err)
	}
}

// escape writes s (valid UTF-8) with &, <, > and, in attributes, " escaped.
func (h *htmlFilter) escape(s string, inAttr bool) {
	last := 0
	for i := 0; i < len(s); i++ {
		var rep string
		switch s[i] {
		case '&':
			rep = "&amp;"
		case '<':
			rep = "&lt;"
		case '>':
			rep = "&gt;"
		case '"':
			if !inAttr {
				continue
			}
			rep = "&#34;"
		default:
			continue
		}
		h.writeString(s[last:i])
		h.writeString(rep)
		last = i + 1
	}
	h.writeString(s[last:])
}

// escapeBytes writes text that may hold invalid UTF-8 or NUL.
func (h *htmlFilter) escapeBytes(b []byte) {
	last := 0
	for i := 0; i < len(b); {
		c := b[i]
		var rep string
		size := 1
		switch {
		case c == '&':
			rep = "&amp;"
		case c == '<':
			rep = "&lt;"
		case c == '>':
			rep = "&gt;"
		case c == 0:
			rep = "\uFFFD"
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(b[i:])
			if r != utf8.RuneError || n != 1 {
				i += n
				continue
			}
			rep = "\uFFFD"
		default:
			i++
			continue
		}
		h.writeBytes(b[last:i])
		h.writeString(rep)
		i += size
		last = i
	}
	h.writeBytes(b[last:])
}

func (h *htmlFilter) writeBytes(b []byte) {
	if h.err != nil || len(b) == 0 {
		return
	}
	if _, err := h.w.Write(b); err != nil {
		h.err = fmt.Errorf("filter: write HTML: %w", err)
	}
}

// validText returns b as a string of valid UTF-8 without NUL.
func validText(b []byte) string {
	s := string(b)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	return s
}

// plainName reports whether an attribute name is made only of characters that need no
// thought: lower-case letters, digits, '-', '_' and '.'.
func plainName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return s != ""
}

// plainMIME reports whether s looks like a MIME type without parameters.
func plainMIME(s string) bool {
	t, sub, ok := strings.Cut(s, "/")
	return ok && plainName(strings.ReplaceAll(t, "+", "")) && plainName(strings.ReplaceAll(sub, "+", ""))
}
