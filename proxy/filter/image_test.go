package filter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
)

func testImage() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, 16, 8))
	for y := range 8 {
		for x := range 16 {
			img.Set(x, y, color.RGBA{uint8(x * 16), uint8(y * 32), 128, 255})
		}
	}
	return img
}

func pngChunk(typ string, data []byte) []byte {
	var c bytes.Buffer
	binary.Write(&c, binary.BigEndian, uint32(len(data)))
	c.WriteString(typ)
	c.Write(data)
	binary.Write(&c, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	return c.Bytes()
}

// testPNG is a PNG with text, time and EXIF chunks and data after its end.
func testPNG(tb testing.TB) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, testImage()); err != nil {
		tb.Fatal(err)
	}
	raw := b.Bytes()
	ihdrEnd := 8 + 8 + 13 + 4
	var out []byte
	out = append(out, raw[:ihdrEnd]...)
	out = append(out, pngChunk("tEXt", []byte("Author\x00secret name"))...)
	out = append(out, pngChunk("tIME", []byte{7, 230, 1, 2, 3, 4, 5})...)
	out = append(out, pngChunk("eXIf", []byte("MM\x00*secret gps"))...)
	out = append(out, pngChunk("prVt", []byte("secret private"))...)
	out = append(out, raw[ihdrEnd:]...)
	return append(out, "<html>secret trailer"...)
}

// testJPEG is a JPEG with EXIF, XMP and comment segments and data after its end.
func testJPEG(tb testing.TB) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, testImage(), nil); err != nil {
		tb.Fatal(err)
	}
	seg := func(m byte, data string) []byte {
		return append([]byte{0xff, m, byte((len(data) + 2) >> 8), byte(len(data) + 2)}, data...)
	}
	raw := b.Bytes()
	out := append([]byte{}, raw[:2]...)
	out = append(out, seg(0xe1, "Exif\x00\x00secret gps")...)
	out = append(out, seg(0xe1, "http://ns.adobe.com/xap/1.0/\x00secret xmp")...)
	out = append(out, seg(0xed, "Photoshop 3.0\x00secret iptc")...)
	out = append(out, seg(0xfe, "secret comment")...)
	out = append(out, 0xff) // a fill byte before the next marker
	out = append(out, raw[2:]...)
	return append(out, "<html>secret trailer"...)
}

// testGIF is an animated GIF with a comment extension and an XMP application extension.
func testGIF(tb testing.TB) []byte {
	tb.Helper()
	g := &gif.GIF{LoopCount: 3}
	for i := range 2 {
		p := image.NewPaletted(image.Rect(0, 0, 8, 8), palette.Plan9)
		p.Pix[i] = 200
		g.Image = append(g.Image, p)
		g.Delay = append(g.Delay, 10)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		tb.Fatal(err)
	}
	raw := b.Bytes()
	body, trailer := raw[:len(raw)-1], raw[len(raw)-1:]
	var out []byte
	out = append(out, body...)
	out = append(out, 0x21, 0xfe, 14)
	out = append(out, "secret comment"...)
	out = append(out, 0)
	out = append(out, 0x21, 0xff, 11)
	out = append(out, "XMP DataXMP"...)
	out = append(out, 10)
	out = append(out, "secret xmp"...)
	out = append(out, 0)
	out = append(out, trailer...)
	return append(out, "secret trailer"...)
}

// testWebP is an extended WebP container with EXIF and XMP chunks. Its image data is not a
// real VP8L bitstream (the standard library has no WebP codec): the test checks structure.
func testWebP() []byte {
	chunk := func(typ string, data []byte) []byte {
		c := append([]byte(typ), 0, 0, 0, 0)
		binary.LittleEndian.PutUint32(c[4:], uint32(len(data)))
		c = append(c, data...)
		if len(data)%2 == 1 {
			c = append(c, 0)
		}
		return c
	}
	var body []byte
	body = append(body, "WEBP"...)
	body = append(body, chunk("VP8X", []byte{0x08 | 0x04 | 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0})...)
	body = append(body, chunk("VP8L", []byte{0x2f, 1, 2, 3, 4, 5, 6})...)
	body = append(body, chunk("EXIF", []byte("secret gps"))...)
	body = append(body, chunk("XMP ", []byte("secret xmp!"))...)
	out := append([]byte("RIFF"), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(out[4:], uint32(len(body)))
	out = append(out, body...)
	return append(out, "secret trailer"...)
}

func filterImage(tb testing.TB, in []byte, k Kind) []byte {
	tb.Helper()
	var out bytes.Buffer
	if err := Image(&out, bytes.NewReader(in), k); err != nil {
		tb.Fatalf("Image: %v", err)
	}
	return out.Bytes()
}

func TestImageStripsMetadata(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     []byte
		kind   Kind
		decode func([]byte) (image.Image, error)
	}{
		{"PNG", testPNG(t), KindPNG, func(b []byte) (image.Image, error) { return png.Decode(bytes.NewReader(b)) }},
		{"JPEG", testJPEG(t), KindJPEG, func(b []byte) (image.Image, error) { return jpeg.Decode(bytes.NewReader(b)) }},
		{"GIF", testGIF(t), KindGIF, func(b []byte) (image.Image, error) { return gif.Decode(bytes.NewReader(b)) }},
		{"WebP", testWebP(), KindWebP, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Contains(tc.in, []byte("secret")) {
				t.Fatal("test image has no metadata to strip")
			}
			out := filterImage(t, tc.in, tc.kind)
			if bytes.Contains(out, []byte("secret")) {
				t.Errorf("metadata survived: %q", out)
			}
			if again := filterImage(t, out, tc.kind); !bytes.Equal(again, out) {
				t.Errorf("filtering twice changes the image")
			}
			if tc.decode == nil {
				return
			}
			want, err := tc.decode(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tc.decode(out)
			if err != nil {
				t.Fatalf("filtered image does not decode: %v", err)
			}
			if !samePixels(want, got) {
				t.Errorf("filtered image looks different")
			}
		})
	}
}

func samePixels(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
			r1, g1, b1, a1 := a.At(x, y).RGBA()
			r2, g2, b2, a2 := b.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 || a1 != a2 {
				return false
			}
		}
	}
	return true
}

func TestGIFKeepsAnimation(t *testing.T) {
	g, err := gif.DecodeAll(bytes.NewReader(filterImage(t, testGIF(t), KindGIF)))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Image) != 2 || g.LoopCount != 3 || g.Delay[1] != 10 {
		t.Errorf("animation lost: %d frames, loop %d, delays %v", len(g.Image), g.LoopCount, g.Delay)
	}
}

func TestWebPStructure(t *testing.T) {
	in := testWebP()
	out := filterImage(t, in, KindWebP)
	riff := int(binary.LittleEndian.Uint32(out[4:8]))
	if len(out) != riff+8 {
		t.Errorf("output is %d bytes, RIFF says %d", len(out), riff+8)
	}
	if !bytes.Contains(out, []byte("JUNK")) || bytes.Contains(out, []byte("EXIF")) || bytes.Contains(out, []byte("XMP ")) {
		t.Errorf("EXIF/XMP not replaced: %q", out)
	}
	if flags := out[20]; flags != 0x10 {
		t.Errorf("VP8X flags %#x, want only alpha (0x10)", flags)
	}
	if !bytes.Contains(out, []byte{0x2f, 1, 2, 3, 4, 5, 6}) {
		t.Errorf("image data lost")
	}
}

func TestImageRejects(t *testing.T) {
	png := testPNG(t)
	for _, tc := range []struct {
		name string
		in   []byte
		kind Kind
	}{
		{"GIF as PNG", testGIF(t), KindPNG},
		{"PNG as JPEG", png, KindJPEG},
		{"HTML as GIF", []byte("<html><script>alert(1)</script>"), KindGIF},
		{"empty", nil, KindWebP},
		{"SVG kind", []byte("<svg/>"), KindSVG},
	} {
		var out bytes.Buffer
		err := Image(&out, bytes.NewReader(tc.in), tc.kind)
		if !errors.Is(err, ErrNotImage) {
			t.Errorf("%s: error %v, want ErrNotImage", tc.name, err)
		}
		if out.Len() != 0 {
			t.Errorf("%s: %d bytes written before the format was refused", tc.name, out.Len())
		}
	}
	for _, tc := range []struct {
		name string
		in   []byte
		kind Kind
	}{
		{"PNG", png, KindPNG},
		{"JPEG", testJPEG(t), KindJPEG},
		{"GIF", testGIF(t), KindGIF},
		{"WebP", testWebP(), KindWebP},
	} {
		cut := tc.in[:len(tc.in)/2]
		if err := Image(&bytes.Buffer{}, bytes.NewReader(cut), tc.kind); !errors.Is(err, ErrNotImage) {
			t.Errorf("%s cut short: error %v, want ErrNotImage", tc.name, err)
		}
	}
	if err := Image(&bytes.Buffer{}, errReader{}, KindPNG); errors.Is(err, ErrNotImage) || err == nil {
		t.Errorf("a read error is reported as %v", err)
	}
}
