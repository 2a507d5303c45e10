package filter

import (
	"errors"
	"mime"
	"path"
	"strconv"
	"strings"
)

// Action is what the proxy does with a response (spec §17.1).
type Action uint8

const (
	// Render: the content is filtered (HTML or CSS) and shown.
	Render Action = 1 + iota
	// Inline: the content is shown as it is (plain text, fonts) or after checking and
	// stripping (images).
	Inline
	// Download: the content is harmless to the browser but not shown; it is served as an
	// attachment (audio and video).
	Download
	// Warn: the content could act on its own if a browser or another program opened it
	// (PDF, SVG, programs, anything unknown). The proxy shows a warning first, and serves
	// the bytes only as an attachment once the user asks again.
	Warn
)

func (a Action) String() string {
	switch a {
	case Render:
		return "render"
	case Inline:
		return "inline"
	case Download:
		return "download"
	case Warn:
		return "warn"
	}
	return "Action(" + strconv.Itoa(int(a)) + ")"
}

// Kind is the format a decision is about; it picks the filter Decision.Filter runs.
type Kind uint8

const (
	KindOther Kind = iota // anything not listed: passed only as a download
	KindHTML              // HTML or XHTML: the HTML filter
	KindCSS               // stylesheets: the CSS filter
	KindText              // plain text, CSV, Markdown, JSON, WebVTT: shown as text
	KindJPEG              // the image kinds go through Image
	KindPNG
	KindGIF
	KindWebP
	KindFont  // WOFF, WOFF2, TrueType, OpenType: passed for @font-face
	KindAudio // audio and video: downloads
	KindVideo
	KindSVG // never rendered
	KindPDF
)

// Decision is how one response may reach the browser. The zero Decision is not valid; get
// one from Decide.
type Decision struct {
	Action Action
	Kind   Kind
	// ContentType is the Content-Type to send: normalised, with "charset=utf-8" for
	// everything the filter writes as text, "application/octet-stream" for Warn.
	ContentType string
	// Charset is the character encoding the input is read in, for HTML, CSS and text:
	// "utf-8" or "windows-1252" for what the filter renders; for plain text, the
	// declared charset when it is one browsers know, else "utf-8".
	Charset string
	// Name is the file name for Content-Disposition: the last element of the name given to
	// Decide, without control characters or quotes ("download" if nothing is left), with an
	// extension that names what the filter decided the content is (savedName).
	Name string
	// Reason says, for Warn and Download, why the content is not shown, in words for the
	// warning page.
	Reason string
}

// Decide says how content of the given MIME type may reach the browser. name is the
// document's file name or path (used for the download name, and to guess the type when
// mimeType is empty or "application/octet-stream"). The MIME type is normalised (case,
// parameters, aliases) and an unknown or unparseable type is a Warn; it never renders
// anything the filter cannot read (spec §17.1).
func Decide(mimeType, name string) Decision {
	typ, params, err := mime.ParseMediaType(mimeType)
	if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
		typ = "" // a broken parameter still leaves the type; anything worse is unknown
	}
	if typ == "" || typ == "application/octet-stream" {
		if guess, ok := byExtension[strings.ToLower(path.Ext(name))]; ok {
			typ = guess
		}
	}
	if canon, ok := aliases[typ]; ok {
		typ = canon
	}
	var d Decision
	switch typ {
	case "text/html", "application/xhtml+xml":
		d.Action, d.Kind, d.ContentType = Render, KindHTML, "text/html; charset=utf-8"
		d.Charset = renderCharset(params["charset"])
	case "text/css":
		d.Action, d.Kind, d.ContentType = Render, KindCSS, "text/css; charset=utf-8"
		d.Charset = renderCharset(params["charset"])
	case "text/plain", "text/csv", "text/markdown", "application/json", "text/vtt":
		cs := textCharset(params["charset"])
		d.Action, d.Kind, d.Charset = Inline, KindText, cs
		out := "text/plain"
		if typ == "text/vtt" {
			out = typ // subtitles for <track>; no browser runs anything in WebVTT
		}
		d.ContentType = out + "; charset=" + cs
	case "image/jpeg":
		d.Action, d.Kind, d.ContentType = Inline, KindJPEG, typ
	case "image/png":
		d.Action, d.Kind, d.ContentType = Inline, KindPNG, typ
	case "image/gif":
		d.Action, d.Kind, d.ContentType = Inline, KindGIF, typ
	case "image/webp":
		d.Action, d.Kind, d.ContentType = Inline, KindWebP, typ
	case "font/woff", "font/woff2", "font/ttf", "font/otf":
		// Fonts only draw glyphs, and browsers check them with their own sanitiser before
		// use; @font-face needs them inline.
		d.Action, d.Kind, d.ContentType = Inline, KindFont, typ
	case "audio/mpeg", "audio/ogg", "audio/wav", "audio/webm", "audio/flac", "audio/aac",
		"audio/mp4", "audio/opus":
		d.Action, d.Kind, d.ContentType = Download, KindAudio, typ
		d.Reason = "Audio files are not played in the tab; this one is saved as a file, and the program that plays it opens it outside the browser."
	case "video/mp4", "video/webm", "video/ogg":
		d.Action, d.Kind, d.ContentType = Download, KindVideo, typ
		d.Reason = "Videos are not played in the tab; this one is saved as a file, and the program that plays it opens it outside the browser."
	case "image/svg+xml":
		d.Action, d.Kind, d.ContentType = Warn, KindSVG, "application/octet-stream"
		d.Reason = "SVG images can hold scripts and references to other sites; Lethe does not show them."
	case "application/pdf":
		d.Action, d.Kind, d.ContentType = Warn, KindPDF, "application/octet-stream"
		d.Reason = "PDF documents can hold scripts and links that a PDF reader may follow on its own, revealing you."
	default:
		d.Action, d.Kind, d.ContentType = Warn, KindOther, "application/octet-stream"
		d.Reason = "Lethe cannot check files of this type (" + reasonType(typ) + "); a program that opens it may reach the internet and reveal you."
	}
	d.Name = savedName(fileName(name), typ, d.Kind)
	return d
}

// savedName makes a file name say what the filter decided the content is, whatever the site
// called it: a browser, a file manager or a mail program that meets the saved file later goes
// by its extension, and "readme.html" served as audio/mpeg would otherwise be opened as a web
// page, outside the proxy and its policy. For a type the filter knows, an extension of that
// type is kept and any other replaced by the type's own (readme.html as audio/mpeg is saved as
// readme.mp3). For a type it does not know (KindOther), the name keeps its extension unless
// that extension is one of a type the filter knows, which the content was decided not to be:
// then it becomes .bin. (Such a file is saved only after the warning page, spec §17.1.)
func savedName(name, typ string, k Kind) string {
	ext := path.Ext(name) // fileName left no leading dot, so a name is never all extension
	stem := strings.TrimSuffix(name, ext)
	lower := strings.ToLower(ext)
	if k == KindOther {
		if _, known := byExtension[lower]; known {
			return stem + ".bin"
		}
		return name
	}
	if byExtension[lower] == typ {
		return name
	}
	if own, ok := ownExtension[typ]; ok {
		return stem + own
	}
	return stem + ".bin" // a known type without an extension of its own: none is claimed
}

// ownExtension is the extension a file of each type the filter knows is saved with when its
// name has none of that type's.
var ownExtension = map[string]string{
	"text/html": ".html", "application/xhtml+xml": ".xhtml", "text/css": ".css",
	"text/plain": ".txt", "text/csv": ".csv", "text/markdown": ".md", "application/json": ".json",
	"text/vtt": ".vtt", "image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif",
	"image/webp": ".webp", "image/svg+xml": ".svg", "application/pdf": ".pdf",
	"font/woff": ".woff", "font/woff2": ".woff2", "font/ttf": ".ttf", "font/otf": ".otf",
	"audio/mpeg": ".mp3", "audio/ogg": ".ogg", "audio/opus": ".opus", "audio/wav": ".wav",
	"audio/flac": ".flac", "audio/mp4": ".m4a", "audio/aac": ".aac", "audio/webm": ".weba",
	"video/mp4": ".mp4", "video/webm": ".webm", "video/ogg": ".ogv",
}

func reasonType(typ string) string {
	if typ == "" {
		return "unknown type"
	}
	return strings.ToValidUTF8(typ, "?")
}

// aliases maps non-standard names browsers and servers use to the canonical MIME type.
var aliases = map[string]string{
	"image/jpg":                   "image/jpeg",
	"image/pjpeg":                 "image/jpeg",
	"image/x-png":                 "image/png",
	"image/apng":                  "image/png",
	"text/x-markdown":             "text/markdown",
	"application/font-woff":       "font/woff",
	"application/font-woff2":      "font/woff2",
	"application/x-font-woff":     "font/woff",
	"application/x-font-ttf":      "font/ttf",
	"application/x-font-truetype": "font/ttf",
	"application/x-font-opentype": "font/otf",
	"application/font-sfnt":       "font/ttf",
	"audio/mp3":                   "audio/mpeg",
	"audio/x-wav":                 "audio/wav",
	"audio/wave":                  "audio/wav",
	"audio/x-flac":                "audio/flac",
	"audio/vorbis":                "audio/ogg",
	"application/ogg":             "audio/ogg",
	"text/xhtml":                  "application/xhtml+xml",
	"application/x-pdf":           "application/pdf",
	"image/svg":                   "image/svg+xml",
	"application/x-javascript":    "text/javascript",
}

// byExtension guesses a type from a file name when none was given. It is a fixed table,
// not the system's MIME database, so the decision is the same on every machine.
var byExtension = map[string]string{
	".html": "text/html", ".htm": "text/html", ".xhtml": "application/xhtml+xml",
	".css": "text/css", ".txt": "text/plain", ".text": "text/plain", ".md": "text/markdown",
	".csv": "text/csv", ".json": "application/json", ".vtt": "text/vtt",
	".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif",
	".webp": "image/webp", ".svg": "image/svg+xml", ".pdf": "application/pdf",
	".woff": "font/woff", ".woff2": "font/woff2", ".ttf": "font/ttf", ".otf": "font/otf",
	".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/opus",
	".wav": "audio/wav", ".flac": "audio/flac", ".m4a": "audio/mp4", ".aac": "audio/aac",
	".mp4": "video/mp4", ".m4v": "video/mp4", ".webm": "video/webm", ".ogv": "video/ogg",
}

// renderCharset is the encoding the filter reads HTML or CSS in. It reads UTF-8 and
// windows-1252 (which the web platform uses for every Latin-1 label, US-ASCII included);
// any other declared charset is read as UTF-8, with bytes that are not UTF-8 replaced by
// U+FFFD, so the output is always valid UTF-8 and says so.
func renderCharset(label string) string {
	if latin1Labels[strings.ToLower(strings.TrimSpace(label))] {
		return "windows-1252"
	}
	return "utf-8"
}

var latin1Labels = map[string]bool{
	"ansi_x3.4-1968": true, "ascii": true, "cp1252": true, "cp819": true, "csisolatin1": true,
	"ibm819": true, "iso-8859-1": true, "iso-ir-100": true, "iso8859-1": true, "iso88591": true,
	"iso_8859-1": true, "iso_8859-1:1987": true, "l1": true, "latin1": true, "us-ascii": true,
	"windows-1252": true, "x-cp1252": true,
}

// textCharset keeps a plain-text charset that browsers decode as text (WHATWG Encoding),
// and falls back to UTF-8 for anything else: with text/plain and nosniff, a charset can
// change how text looks but never make it markup.
func textCharset(label string) string {
	l := strings.ToLower(strings.TrimSpace(label))
	if latin1Labels[l] {
		return "windows-1252"
	}
	if textCharsets[l] {
		return l
	}
	return "utf-8"
}

var textCharsets = map[string]bool{
	"utf-8": true, "utf-16le": true, "utf-16be": true, "iso-8859-2": true, "iso-8859-3": true,
	"iso-8859-4": true, "iso-8859-5": true, "iso-8859-6": true, "iso-8859-7": true,
	"iso-8859-8": true, "iso-8859-10": true, "iso-8859-13": true, "iso-8859-14": true,
	"iso-8859-15": true, "iso-8859-16": true, "koi8-r": true, "koi8-u": true,
	"windows-1250": true, "windows-1251": true, "windows-1253": true, "windows-1254": true,
	"windows-1255": true, "windows-1256": true, "windows-1257": true, "windows-1258": true,
	"windows-874": true, "gbk": true, "gb18030": true, "big5": true, "euc-jp": true,
	"shift_jis": true, "euc-kr": true,
}

// fileName keeps the last element of a name, without control characters, quotes or
// separators, for Content-Disposition.
func fileName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == '"' || r == '\\' || r == 0xfffd || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(name, ""))
	name = strings.Trim(name, " .")
	if len(name) > 200 {
		name = strings.ToValidUTF8(name[:200], "")
	}
	if name == "" {
		return "download"
	}
	return name
}
