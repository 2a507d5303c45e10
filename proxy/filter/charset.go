package filter

import (
	"io"
	"unicode/utf8"
)

// windows1252High maps bytes 0x80–0x9F of windows-1252 to Unicode (WHATWG Encoding,
// index-windows-1252); the bytes from 0xA0 up are the same code points as ISO-8859-1. The
// five bytes windows-1252 leaves undefined map to the C1 controls of the same value, as
// browsers do.
var windows1252High = [32]rune{
	0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
	0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
}

// windows1252Reader decodes windows-1252 into UTF-8 as it reads, so the filters, which read
// UTF-8, can take Latin-1 pages.
type windows1252Reader struct {
	r       io.Reader
	in      []byte
	out     []byte // buffer behind pending
	pending []byte // encoded bytes not yet returned
}

func newWindows1252Reader(r io.Reader) io.Reader {
	return &windows1252Reader{r: r, in: make([]byte, 4<<10)}
}

func (d *windows1252Reader) Read(p []byte) (int, error) {
	if len(d.pending) == 0 {
		n, err := d.r.Read(d.in)
		if n == 0 {
			return 0, err
		}
		out := d.out[:0]
		for _, c := range d.in[:n] {
			switch {
			case c < 0x80:
				out = append(out, c)
			case c < 0xa0:
				out = utf8.AppendRune(out, windows1252High[c-0x80])
			default:
				out = utf8.AppendRune(out, rune(c))
			}
		}
		d.out, d.pending = out, out
	}
	n := copy(p, d.pending)
	d.pending = d.pending[n:]
	return n, nil
}
