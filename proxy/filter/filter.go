package filter

import (
	"fmt"
	"io"
)

// Filter copies a response body from src to dst as this decision says: HTML and CSS through
// their filters (decoded from windows-1252 first when that is the charset), images through
// Image, and everything else unchanged — plain text is shown as text/plain, and Download
// and Warn content is only ever served as an attachment (see Header). page is where the
// content lives in the proxy; only HTML and CSS use it.
func (d Decision) Filter(dst io.Writer, src io.Reader, page Page) error {
	if d.Charset == "windows-1252" && (d.Kind == KindHTML || d.Kind == KindCSS) {
		src = newWindows1252Reader(src)
	}
	switch d.Kind {
	case KindHTML:
		return HTML(dst, src, page)
	case KindCSS:
		return CSS(dst, src, page)
	case KindJPEG, KindPNG, KindGIF, KindWebP:
		return Image(dst, src, d.Kind)
	}
	if _, err := io.Copy(dst, src); err != nil {
		return fmt.Errorf("filter: copy %s: %w", d.ContentType, err)
	}
	return nil
}
