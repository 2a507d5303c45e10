package filter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"golang.org/x/net/html"

	"lethe/crypto"
)

// ErrNotText: content of a kind that holds no text to index (images, fonts, media,
// anything the filter would not show).
var ErrNotText = errors.New("filter: content holds no text to index")

// Text is what a search index takes of a document (spec §21.4): its title, its visible
// text, and the links it makes inside the network.
type Text struct {
	Title string
	Body  string
	Links []crypto.RequestURI // in document order, each once, without fragments
}

// ExtractText reads the text of a document the way the proxy would show it: HTML passes
// through the HTML filter first (§17.2), so the text and the links are exactly what a
// browser of the proxy gets — scripts, styles and everything the filter drops are not
// indexed, and only links the filter keeps inside the network are followed. Plain text
// kinds (§17.1 KindText) are taken as they are; other kinds are ErrNotText. At most limit
// bytes are read.
func ExtractText(src io.Reader, mimeType, name string, page Page, limit int64) (Text, error) {
	d := Decide(mimeType, name)
	src = io.LimitReader(src, limit)
	switch d.Kind {
	case KindText:
		if d.Charset == "windows-1252" {
			src = newWindows1252Reader(src)
		}
		b, err := io.ReadAll(src)
		if err != nil {
			return Text{}, err
		}
		return Text{Body: string(bytes.ToValidUTF8(b, []byte("\uFFFD")))}, nil
	case KindHTML:
		var filtered bytes.Buffer
		if err := d.Filter(&filtered, src, page); err != nil {
			return Text{}, err
		}
		return htmlText(&filtered)
	}
	return Text{}, fmt.Errorf("%w: %s", ErrNotText, d.ContentType)
}

// blockElements end a line of text: words on either side are never run together.
var blockElements = map[string]bool{
	"p": true, "div": true, "br": true, "li": true, "tr": true, "td": true, "th": true, "h1": true,
	"h2": true, "h3": true, "h4": true, "h5": true, "h6": true, "pre": true, "blockquote": true,
	"section": true, "article": true, "header": true, "footer": true, "nav": true, "dt": true,
	"dd": true, "table": true, "ul": true, "ol": true, "hr": true, "title": true, "option": true,
}

// htmlText reads filtered HTML: its title, its text outside style, and its links.
func htmlText(r io.Reader) (Text, error) {
	var (
		t       Text
		body    strings.Builder
		title   strings.Builder
		inTitle bool
		skip    int // inside style or textarea-like content not shown as text
		seen    = map[string]bool{}
	)
	z := html.NewTokenizer(r)
	for {
		switch z.Next() {
		case html.ErrorToken:
			if err := z.Err(); err != io.EOF {
				return Text{}, err
			}
			t.Title = strings.TrimSpace(title.String())
			t.Body = body.String()
			return t, nil
		case html.TextToken:
			switch {
			case skip > 0:
			case inTitle:
				title.Write(z.Text())
			default:
				body.Write(z.Text())
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			tag := string(name)
			switch tag {
			case "title":
				inTitle = true
			case "style":
				skip++
			}
			if blockElements[tag] {
				body.WriteByte('\n')
			}
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				if tag == "a" && string(k) == "href" {
					if u, ok := linkTarget(string(v)); ok && !seen[u.String()] {
						seen[u.String()] = true
						t.Links = append(t.Links, u)
					}
				}
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch tag := string(name); tag {
			case "title":
				inTitle = false
			case "style":
				skip = max(skip-1, 0)
			default:
				if blockElements[tag] {
					body.WriteByte('\n')
				}
			}
		}
	}
}

// linkTarget reads a link the HTML filter wrote: a proxy path of a request URI (§17.3).
// Links to the warning page and fragments of the page itself are not in the network.
func linkTarget(href string) (crypto.RequestURI, bool) {
	p, _, _ := strings.Cut(href, "#")
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, ExternalPath) {
		return crypto.RequestURI{}, false
	}
	dec, err := url.PathUnescape(p[1:])
	if err != nil {
		return crypto.RequestURI{}, false
	}
	u, err := crypto.ParseURI(dec)
	if err != nil {
		return crypto.RequestURI{}, false
	}
	return u, true
}
