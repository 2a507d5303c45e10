package filter

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrNotImage means the bytes are not the image format the content claims (or are cut
// short), so the proxy must not serve them as that image.
var ErrNotImage = errors.New("content is not the image it claims to be")

// Image copies a JPEG, PNG, GIF or WebP image from src to dst after checking that it is
// that format, and strips the metadata that is simple to strip (spec §17.5): JPEG APPn
// segments other than JFIF, ICC profile and Adobe colour information, and comments; PNG
// text, time, EXIF and unknown ancillary chunks; GIF comments, plain-text blocks and
// application extensions other than the animation loop; WebP EXIF and XMP chunks, which are
// overwritten in place with an ignored "JUNK" chunk of zeros. Data after the image's end is
// dropped. The format is checked on the first bytes, before anything is written, so an
// ErrNotImage for the wrong format comes before any output; an image cut short gives
// ErrNotImage after what came before it was written.
func Image(dst io.Writer, src io.Reader, kind Kind) error {
	ic := &imageCopier{r: bufio.NewReaderSize(src, 16<<10), w: bufio.NewWriterSize(dst, 16<<10)}
	var err error
	switch kind {
	case KindJPEG:
		err = ic.jpeg()
	case KindPNG:
		err = ic.png()
	case KindGIF:
		err = ic.gif()
	case KindWebP:
		err = ic.webp()
	default:
		return fmt.Errorf("filter: image kind %d: %w", kind, ErrNotImage)
	}
	if ferr := ic.w.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("filter: write image: %w", ferr)
	}
	return err
}

type imageCopier struct {
	r *bufio.Reader
	w *bufio.Writer
}

func notImage(format, why string) error {
	return fmt.Errorf("filter: %s: %s: %w", format, why, ErrNotImage)
}

// readErr turns a short read into ErrNotImage and keeps other read errors as they are.
func readErr(format string, err error) error {
	if errors.Is(err, ErrNotImage) {
		return err
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return notImage(format, "cut short")
	}
	return fmt.Errorf("filter: read %s: %w", format, err)
}

// peek returns the first n bytes, for the format check that comes before any output.
func (ic *imageCopier) peek(format string, n int) ([]byte, error) {
	head, err := ic.r.Peek(n)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, notImage(format, "too short")
		}
		return nil, fmt.Errorf("filter: read %s: %w", format, err)
	}
	return head, nil
}

func (ic *imageCopier) read(format string, p []byte) error {
	if _, err := io.ReadFull(ic.r, p); err != nil {
		return readErr(format, err)
	}
	return nil
}

func (ic *imageCopier) copyN(format string, n int64) error {
	if _, err := io.CopyN(ic.w, ic.r, n); err != nil {
		return readErr(format, err)
	}
	return nil
}

func (ic *imageCopier) skip(format string, n int64) error {
	for n > 0 {
		k := int(min(n, 1<<20))
		d, err := ic.r.Discard(k)
		n -= int64(d)
		if err != nil {
			return readErr(format, err)
		}
	}
	return nil
}

// JPEG (ITU T.81, B.1): markers 0xFF xx; segments carry a 2-byte length; entropy-coded data
// after SOS holds no 0xFF except as FF 00 (a data byte) and FF D0–D7 (restart markers).
func (ic *imageCopier) jpeg() error {
	const f = "JPEG"
	head, err := ic.peek(f, 3)
	if err != nil {
		return err
	}
	if !bytes.Equal(head, []byte{0xff, 0xd8, 0xff}) {
		return notImage(f, "no start-of-image marker")
	}
	ic.r.Discard(2)
	ic.w.Write([]byte{0xff, 0xd8})
	m, err := ic.marker()
	for {
		if err != nil {
			return readErr(f, err)
		}
		switch {
		case m == 0xd9: // EOI: the end; anything after it is dropped
			_, err := ic.w.Write([]byte{0xff, m})
			return err
		case m == 0x01 || 0xd0 <= m && m <= 0xd7: // TEM, RSTn: no length
			ic.w.Write([]byte{0xff, m})
			m, err = ic.marker()
			continue
		case m == 0x00 || m == 0xd8:
			return notImage(f, "unexpected marker")
		}
		var lb [2]byte
		if err := ic.read(f, lb[:]); err != nil {
			return err
		}
		n := int64(binary.BigEndian.Uint16(lb[:]))
		if n < 2 {
			return notImage(f, "segment length below 2")
		}
		// Keep APP0 (JFIF), APP2 (ICC profile) and APP14 (Adobe colour transform), which
		// change how the image looks; drop the other APPn (EXIF, XMP, IPTC…) and COM.
		if 0xe0 <= m && m <= 0xef && m != 0xe0 && m != 0xe2 && m != 0xee || m == 0xfe {
			if err := ic.skip(f, n-2); err != nil {
				return err
			}
			m, err = ic.marker()
			continue
		}
		ic.w.Write([]byte{0xff, m, lb[0], lb[1]})
		if err := ic.copyN(f, n-2); err != nil {
			return err
		}
		if m == 0xda { // SOS: entropy-coded data follows, up to the next marker
			m, err = ic.jpegScan()
		} else {
			m, err = ic.marker()
		}
	}
}

// marker reads the next marker code: 0xFF, optional fill bytes (0xFF), the code.
func (ic *imageCopier) marker() (byte, error) {
	b, err := ic.r.ReadByte()
	if err != nil {
		return 0, err
	}
	if b != 0xff {
		return 0, notImage("JPEG", "expected a marker")
	}
	for b == 0xff {
		if b, err = ic.r.ReadByte(); err != nil {
			return 0, err
		}
	}
	return b, nil
}

// jpegScan copies entropy-coded data, in which 0xFF appears only as FF 00 (a data byte) and
// FF D0–D7 (restart markers), and returns the code of the first other marker.
func (ic *imageCopier) jpegScan() (byte, error) {
	for {
		chunk, err := ic.r.ReadSlice(0xff)
		if errors.Is(err, bufio.ErrBufferFull) {
			ic.w.Write(chunk)
			continue
		}
		if err != nil {
			return 0, err
		}
		ic.w.Write(chunk[:len(chunk)-1])
		c, err := ic.r.ReadByte()
		for err == nil && c == 0xff { // fill bytes
			c, err = ic.r.ReadByte()
		}
		if err != nil {
			return 0, err
		}
		if c == 0x00 || 0xd0 <= c && c <= 0xd7 {
			ic.w.Write([]byte{0xff, c})
			continue
		}
		return c, nil
	}
}

// PNG (ISO/IEC 15948): the signature, then chunks of length, type, data and CRC.
func (ic *imageCopier) png() error {
	const f = "PNG"
	sig := []byte("\x89PNG\r\n\x1a\n")
	head, err := ic.peek(f, len(sig))
	if err != nil {
		return err
	}
	if !bytes.Equal(head, sig) {
		return notImage(f, "no PNG signature")
	}
	ic.copyN(f, int64(len(sig)))
	for first := true; ; first = false {
		var h [8]byte
		if err := ic.read(f, h[:]); err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(h[:4])
		typ := string(h[4:])
		if n > 1<<31-1 || !pngType(typ) {
			return notImage(f, "malformed chunk header")
		}
		if first && typ != "IHDR" {
			return notImage(f, "first chunk is not IHDR")
		}
		if !pngKeep[typ] {
			if err := ic.skip(f, int64(n)+4); err != nil {
				return err
			}
			continue
		}
		ic.w.Write(h[:])
		if err := ic.copyN(f, int64(n)+4); err != nil {
			return err
		}
		if typ == "IEND" {
			return nil
		}
	}
}

// pngKeep are the chunks that change how the image looks (critical chunks, colour,
// transparency, APNG animation); text (tEXt, zTXt, iTXt), time, EXIF and anything unknown
// are dropped.
var pngKeep = map[string]bool{
	"IHDR": true, "PLTE": true, "IDAT": true, "IEND": true, "tRNS": true, "gAMA": true,
	"cHRM": true, "sRGB": true, "iCCP": true, "sBIT": true, "pHYs": true, "bKGD": true,
	"acTL": true, "fcTL": true, "fdAT": true, "cICP": true, "mDCv": true, "cLLi": true,
}

func pngType(t string) bool {
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// GIF (GIF89a specification): header, logical screen descriptor and global colour table,
// then blocks: images (0x2C), extensions (0x21) and the trailer (0x3B).
func (ic *imageCopier) gif() error {
	const f = "GIF"
	head, err := ic.peek(f, 13)
	if err != nil {
		return err
	}
	if string(head[:6]) != "GIF87a" && string(head[:6]) != "GIF89a" {
		return notImage(f, "no GIF header")
	}
	flags := head[10]
	ic.copyN(f, 13)
	if flags&0x80 != 0 {
		if err := ic.copyN(f, 3<<(flags&7+1)); err != nil {
			return err
		}
	}
	for {
		b, err := ic.r.ReadByte()
		if err != nil {
			return readErr(f, err)
		}
		switch b {
		case 0x3b: // trailer
			return ic.w.WriteByte(b)
		case 0x2c: // image descriptor
			var d [9]byte
			if err := ic.read(f, d[:]); err != nil {
				return err
			}
			ic.w.WriteByte(b)
			ic.w.Write(d[:])
			if d[8]&0x80 != 0 {
				if err := ic.copyN(f, 3<<(d[8]&7+1)); err != nil {
					return err
				}
			}
			if err := ic.copyN(f, 1); err != nil { // LZW minimum code size
				return err
			}
			if err := ic.gifSubBlocks(true); err != nil {
				return err
			}
		case 0x21: // extension
			label, err := ic.r.ReadByte()
			if err != nil {
				return readErr(f, err)
			}
			keep := label == 0xf9 // graphic control: delays and transparency
			var first []byte
			if label == 0xff {
				// An application extension: keep only the animation loop count.
				if first, err = ic.gifBlock(); err != nil {
					return err
				}
				keep = string(first) == "NETSCAPE2.0" || string(first) == "ANIMEXTS1.0"
				if keep {
					ic.w.Write([]byte{b, label, byte(len(first))})
					ic.w.Write(first)
				} else if len(first) == 0 {
					continue // the first block was the terminator
				}
			} else if keep {
				ic.w.Write([]byte{b, label})
			}
			if err := ic.gifSubBlocks(keep); err != nil {
				return err
			}
		default:
			return notImage(f, "unknown block")
		}
	}
}

// gifBlock reads one data sub-block (length byte, then data) and returns its data.
func (ic *imageCopier) gifBlock() ([]byte, error) {
	n, err := ic.r.ReadByte()
	if err != nil {
		return nil, readErr("GIF", err)
	}
	p := make([]byte, n)
	return p, ic.read("GIF", p)
}

// gifSubBlocks copies (or skips) data sub-blocks up to and including the terminator.
func (ic *imageCopier) gifSubBlocks(keep bool) error {
	for {
		n, err := ic.r.ReadByte()
		if err != nil {
			return readErr("GIF", err)
		}
		if keep {
			ic.w.WriteByte(n)
		}
		if n == 0 {
			return nil
		}
		if keep {
			err = ic.copyN("GIF", int64(n))
		} else {
			err = ic.skip("GIF", int64(n))
		}
		if err != nil {
			return err
		}
	}
}

// WebP (RFC 9649): a RIFF container of chunks. EXIF and XMP chunks are overwritten with a
// JUNK chunk of zeros of the same size, and their flags cleared in VP8X, so that the RIFF
// size, written first, stays true while the image streams.
func (ic *imageCopier) webp() error {
	const f = "WebP"
	head, err := ic.peek(f, 16)
	if err != nil {
		return err
	}
	if string(head[:4]) != "RIFF" || string(head[8:12]) != "WEBP" {
		return notImage(f, "no RIFF WEBP header")
	}
	switch string(head[12:16]) {
	case "VP8 ", "VP8L", "VP8X":
	default:
		return notImage(f, "first chunk is not VP8, VP8L or VP8X")
	}
	size := int64(binary.LittleEndian.Uint32(head[4:8]))
	if size < 4 || size%2 != 0 {
		return notImage(f, "bad RIFF size")
	}
	ic.copyN(f, 12)
	left := size - 4 // after "WEBP"
	for left > 0 {
		var h [8]byte
		if left < 8 {
			return notImage(f, "chunk header past the RIFF size")
		}
		if err := ic.read(f, h[:]); err != nil {
			return err
		}
		n := int64(binary.LittleEndian.Uint32(h[4:]))
		padded := n + n&1
		left -= 8
		if padded > left {
			return notImage(f, "chunk past the RIFF size")
		}
		left -= padded
		switch string(h[:4]) {
		case "EXIF", "XMP ":
			copy(h[:4], "JUNK")
			ic.w.Write(h[:])
			if err := ic.skip(f, padded); err != nil {
				return err
			}
			for z := padded; z > 0; z-- {
				ic.w.WriteByte(0)
			}
		case "VP8X":
			ic.w.Write(h[:])
			if n < 1 {
				return notImage(f, "empty VP8X chunk")
			}
			flags, err := ic.r.ReadByte()
			if err != nil {
				return readErr(f, err)
			}
			ic.w.WriteByte(flags &^ (0x08 | 0x04)) // EXIF and XMP present
			if err := ic.copyN(f, padded-1); err != nil {
				return err
			}
		default:
			ic.w.Write(h[:])
			if err := ic.copyN(f, padded); err != nil {
				return err
			}
		}
	}
	return nil
}
