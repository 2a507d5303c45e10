package filter

import "strings"

// The allow-lists of the HTML filter (spec §17.2). An element not listed here loses its
// tags but keeps its content, except the elements of dropWithContent, which lose
// everything up to their end tag. An attribute not listed is dropped.

// attrKind says how an attribute's value is checked.
type attrKind uint8

const (
	attrText       attrKind = 1 + iota // any text: it is escaped, never interpreted as a URL
	attrLink                           // a URL the user follows: outside goes to the warning page
	attrResource                       // a URL the browser fetches: outside is removed
	attrCite                           // a URL that is only shown: outside is removed
	attrSrcset                         // srcset: a list of image URLs
	attrStyle                          // style: CSS declarations
	attrTarget                         // target: _blank, _self, _parent or _top
	attrFragment                       // usemap: "#name"
	attrDir                            // dir: ltr, rtl or auto
	attrInputType                      // type of <input>
	attrButtonType                     // type of <button>
	attrMIMEType                       // type of <a>, <source>: a MIME type
	attrMethod                         // method of <form>: get or post
	attrEnctype                        // enctype of <form>
	attrFormAction                     // action of <form>: only in-network paths
)

// globalAttrs are allowed on every allowed element. Presentational attributes are here too:
// they only change how things look.
var globalAttrs = map[string]attrKind{
	"id": attrText, "class": attrText, "title": attrText, "lang": attrText, "dir": attrDir,
	"hidden": attrText, "tabindex": attrText, "accesskey": attrText, "translate": attrText,
	"role": attrText, "style": attrStyle, "spellcheck": attrText, "inert": attrText,
	"align": attrText, "valign": attrText, "bgcolor": attrText, "color": attrText,
	"border": attrText, "width": attrText, "height": attrText, "xml:lang": attrText,
}

type elemRule struct {
	void  bool
	attrs map[string]attrKind
}

// elements is the allow-list of elements and their own attributes.
var elements = func() map[string]*elemRule {
	m := map[string]*elemRule{}
	add := func(names string, void bool, attrs map[string]attrKind) {
		for _, n := range strings.Fields(names) {
			m[n] = &elemRule{void: void, attrs: attrs}
		}
	}
	add(`html head body title address article aside footer header h1 h2 h3 h4 h5 h6 hgroup main
		nav section search dd div dl dt figcaption figure menu p pre ul abbr b bdi bdo cite code
		dfn em i kbd mark rp rt ruby s samp small span strong sub sup u var picture caption
		tbody tfoot thead legend datalist summary center big strike tt nobr`, false, nil)
	add("wbr", true, nil)
	add("br", true, map[string]attrKind{"clear": attrText})
	add("hr", true, map[string]attrKind{"noshade": attrText, "size": attrText})
	add("a", false, map[string]attrKind{"href": attrLink, "name": attrText, "target": attrTarget,
		"rel": attrText, "hreflang": attrText, "type": attrMIMEType})
	add("area", true, map[string]attrKind{"href": attrLink, "alt": attrText, "shape": attrText,
		"coords": attrText, "target": attrTarget, "rel": attrText})
	add("map", false, map[string]attrKind{"name": attrText})
	add("img", true, map[string]attrKind{"src": attrResource, "srcset": attrSrcset,
		"sizes": attrText, "alt": attrText, "usemap": attrFragment, "ismap": attrText,
		"loading": attrText, "decoding": attrText, "hspace": attrText, "vspace": attrText})
	add("source", true, map[string]attrKind{"src": attrResource, "srcset": attrSrcset,
		"sizes": attrText, "type": attrMIMEType, "media": attrText})
	add("track", true, map[string]attrKind{"src": attrResource, "kind": attrText,
		"srclang": attrText, "label": attrText, "default": attrText})
	media := map[string]attrKind{"src": attrResource, "controls": attrText, "loop": attrText,
		"muted": attrText, "preload": attrText}
	add("audio", false, media)
	add("video", false, map[string]attrKind{"src": attrResource, "poster": attrResource,
		"controls": attrText, "loop": attrText, "muted": attrText, "preload": attrText,
		"playsinline": attrText})
	add("blockquote q", false, map[string]attrKind{"cite": attrCite})
	add("del ins", false, map[string]attrKind{"cite": attrCite, "datetime": attrText})
	add("ol", false, map[string]attrKind{"start": attrText, "reversed": attrText, "type": attrText})
	add("li", false, map[string]attrKind{"value": attrText, "type": attrText})
	add("table", false, map[string]attrKind{"summary": attrText, "cellpadding": attrText,
		"cellspacing": attrText, "frame": attrText, "rules": attrText, "background": attrResource})
	add("td th", false, map[string]attrKind{"colspan": attrText, "rowspan": attrText,
		"headers": attrText, "scope": attrText, "abbr": attrText, "nowrap": attrText,
		"background": attrResource})
	add("tr", false, nil)
	add("col", true, map[string]attrKind{"span": attrText})
	add("colgroup", false, map[string]attrKind{"span": attrText})
	// vlink is left out: it styles visited links.
	add("body", false, map[string]attrKind{"background": attrResource, "text": attrText,
		"link": attrText, "alink": attrText})
	add("font", false, map[string]attrKind{"face": attrText, "size": attrText})
	add("time", false, map[string]attrKind{"datetime": attrText})
	add("data", false, map[string]attrKind{"value": attrText})
	add("details dialog", false, map[string]attrKind{"open": attrText})
	add("form", false, map[string]attrKind{"action": attrFormAction, "method": attrMethod, "enctype": attrEnctype,
		"name": attrText, "autocomplete": attrText, "novalidate": attrText, "target": attrTarget})
	add("input", true, map[string]attrKind{"type": attrInputType, "name": attrText,
		"value": attrText, "size": attrText, "maxlength": attrText, "minlength": attrText,
		"checked": attrText, "disabled": attrText, "readonly": attrText, "placeholder": attrText,
		"required": attrText, "min": attrText, "max": attrText, "step": attrText,
		"pattern": attrText, "multiple": attrText, "accept": attrText, "alt": attrText,
		"src": attrResource, "list": attrText, "autocomplete": attrText, "dirname": attrText})
	add("button", false, map[string]attrKind{"type": attrButtonType, "name": attrText,
		"value": attrText, "disabled": attrText})
	add("select", false, map[string]attrKind{"name": attrText, "multiple": attrText,
		"size": attrText, "disabled": attrText, "required": attrText, "autocomplete": attrText})
	add("option", false, map[string]attrKind{"value": attrText, "selected": attrText,
		"disabled": attrText, "label": attrText})
	add("optgroup", false, map[string]attrKind{"label": attrText, "disabled": attrText})
	add("textarea", false, map[string]attrKind{"name": attrText, "rows": attrText,
		"cols": attrText, "placeholder": attrText, "readonly": attrText, "disabled": attrText,
		"maxlength": attrText, "minlength": attrText, "wrap": attrText, "required": attrText,
		"autocomplete": attrText, "dirname": attrText})
	add("label", false, map[string]attrKind{"for": attrText})
	add("fieldset", false, map[string]attrKind{"disabled": attrText, "name": attrText})
	add("output", false, map[string]attrKind{"for": attrText, "name": attrText})
	add("progress", false, map[string]attrKind{"value": attrText, "max": attrText})
	add("meter", false, map[string]attrKind{"value": attrText, "min": attrText, "max": attrText,
		"low": attrText, "high": attrText, "optimum": attrText})
	// link, meta and style are allowed with checks of their own in html.go.
	add("link", true, map[string]attrKind{"rel": attrText, "href": attrResource,
		"type": attrMIMEType, "media": attrText, "sizes": attrText})
	add("meta", true, map[string]attrKind{"name": attrText, "content": attrText})
	add("style", false, map[string]attrKind{"media": attrText, "type": attrMIMEType})
	// xmp, listing and plaintext show their content as preformatted text.
	add("xmp listing plaintext", false, nil)
	return m
}()

// dropWithContent are elements whose content is script, markup in another language, or
// markup a browser parses differently from here (noscript, template); they are removed with
// everything inside. Their text never reaches the output.
var dropWithContent = map[string]bool{
	"script": true, "template": true, "svg": true, "math": true, "iframe": true,
	"noscript": true, "noembed": true, "noframes": true, "frameset": true, "portal": true,
	"fencedframe": true, "xml": true,
}

// renamed elements are written under another name.
var renamed = map[string]string{"xmp": "pre", "listing": "pre", "plaintext": "pre"}

// linkRels are the link types a <link> may have; other tokens are dropped, and a <link>
// left with none is removed (preload, prefetch, preconnect, dns-prefetch, manifest, …).
var linkRels = map[string]bool{
	"stylesheet": true, "icon": true, "shortcut": true, "alternate": true, "apple-touch-icon": true,
}

// metaNames are the <meta name> a page may keep; every http-equiv, charset and other name
// is removed.
var metaNames = map[string]bool{
	"viewport": true, "description": true, "keywords": true, "author": true, "generator": true,
	"color-scheme": true, "theme-color": true,
}

// enumValues are the values (lower-cased) an attribute of a closed set may have; any other
// value drops the attribute.
var enumValues = map[attrKind]map[string]bool{
	attrTarget:     {"_blank": true, "_self": true, "_parent": true, "_top": true},
	attrDir:        {"ltr": true, "rtl": true, "auto": true},
	attrInputType:  inputTypes,
	attrButtonType: {"submit": true, "reset": true, "button": true},
	attrMethod:     {"get": true, "post": true},
	attrEnctype: {"application/x-www-form-urlencoded": true, "multipart/form-data": true,
		"text/plain": true},
}

var inputTypes = map[string]bool{
	"text": true, "password": true, "search": true, "email": true, "url": true, "tel": true,
	"number": true, "range": true, "date": true, "month": true, "week": true, "time": true,
	"datetime-local": true, "color": true, "checkbox": true, "radio": true, "submit": true,
	"reset": true, "button": true, "image": true, "hidden": true,
}

// closesP are start tags that close an open <p> in a browser (HTML §13.2.6.4.7); the filter
// closes it too, so that its own end tags match what the browser built.
var closesP = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range strings.Fields(`address article aside blockquote center details dialog
		dir div dl fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr
		listing main menu nav ol p pre search section summary table ul xmp plaintext`) {
		m[n] = true
	}
	return m
}()

// impliedEnd lists, for start tags that end an open sibling, which open elements they close
// and which elements bound the search.
var impliedEnd = func() map[string]struct{ closes, scope map[string]bool } {
	set := func(names string) map[string]bool {
		m := map[string]bool{}
		for _, n := range strings.Fields(names) {
			m[n] = true
		}
		return m
	}
	m := map[string]struct{ closes, scope map[string]bool }{}
	for _, r := range []struct{ starts, closes, scope string }{
		{"li", "li", "ul ol menu"},
		{"dt dd", "dt dd", "dl"},
		{"tr", "tr td th", "table thead tbody tfoot"},
		{"td th", "td th", "tr table"},
		{"thead tbody tfoot", "tr td th thead tbody tfoot", "table"},
		{"option", "option", "select datalist optgroup"},
		{"optgroup", "option optgroup", "select datalist"},
	} {
		for _, s := range strings.Fields(r.starts) {
			m[s] = struct{ closes, scope map[string]bool }{set(r.closes), set(r.scope)}
		}
	}
	return m
}()
