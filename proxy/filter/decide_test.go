package filter

import (
	"bytes"
	"strings"
	"testing"
)

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		mime, name  string
		action      Action
		kind        Kind
		contentType string
		charset     string
	}{
		{"text/html", "a.html", Render, KindHTML, "text/html; charset=utf-8", "utf-8"},
		{"TEXT/HTML; Charset=\"UTF-8\"", "", Render, KindHTML, "text/html; charset=utf-8", "utf-8"},
		{"text/html; charset=iso-8859-1", "", Render, KindHTML, "text/html; charset=utf-8", "windows-1252"},
		{"text/html; charset=US-ASCII", "", Render, KindHTML, "text/html; charset=utf-8", "windows-1252"},
		{"text/html; charset=utf-7", "", Render, KindHTML, "text/html; charset=utf-8", "utf-8"},
		{"text/html; charset=shift_jis", "", Render, KindHTML, "text/html; charset=utf-8", "utf-8"},
		{"application/xhtml+xml", "", Render, KindHTML, "text/html; charset=utf-8", "utf-8"},
		{"text/css", "", Render, KindCSS, "text/css; charset=utf-8", "utf-8"},
		{"text/plain", "", Inline, KindText, "text/plain; charset=utf-8", "utf-8"},
		{"text/plain; charset=Shift_JIS", "", Inline, KindText, "text/plain; charset=shift_jis", "shift_jis"},
		{"text/plain; charset=utf-7", "", Inline, KindText, "text/plain; charset=utf-8", "utf-8"},
		{"text/plain; charset=\"x\r\ny\"", "", Inline, KindText, "text/plain; charset=utf-8", "utf-8"},
		{"application/json", "", Inline, KindText, "text/plain; charset=utf-8", "utf-8"},
		{"text/vtt", "", Inline, KindText, "text/vtt; charset=utf-8", "utf-8"},
		{"image/jpeg", "", Inline, KindJPEG, "image/jpeg", ""},
		{"image/jpg", "", Inline, KindJPEG, "image/jpeg", ""},
		{"image/png", "", Inline, KindPNG, "image/png", ""},
		{"image/gif", "", Inline, KindGIF, "image/gif", ""},
		{"image/webp", "", Inline, KindWebP, "image/webp", ""},
		{"font/woff2", "", Inline, KindFont, "font/woff2", ""},
		{"audio/mpeg", "", Download, KindAudio, "audio/mpeg", ""},
		{"video/webm", "", Download, KindVideo, "video/webm", ""},
		{"image/svg+xml", "", Warn, KindSVG, "application/octet-stream", ""},
		{"application/pdf", "", Warn, KindPDF, "application/octet-stream", ""},
		{"application/x-msdownload", "setup.exe", Warn, KindOther, "application/octet-stream", ""},
		{"text/javascript", "", Warn, KindOther, "application/octet-stream", ""},
		{"text/xml", "", Warn, KindOther, "application/octet-stream", ""},
		{"image/bmp", "", Warn, KindOther, "application/octet-stream", ""},
		{"not a type", "", Warn, KindOther, "application/octet-stream", ""},
		{"", "", Warn, KindOther, "application/octet-stream", ""},
		{"", "index.HTM", Render, KindHTML, "text/html; charset=utf-8", "utf-8"},
		{"application/octet-stream", "pic.jpeg", Inline, KindJPEG, "image/jpeg", ""},
		{"application/octet-stream", "x.svg", Warn, KindSVG, "application/octet-stream", ""},
		{"text/plain", "page.html", Inline, KindText, "text/plain; charset=utf-8", "utf-8"},
	} {
		d := Decide(tc.mime, tc.name)
		if d.Action != tc.action || d.Kind != tc.kind || d.ContentType != tc.contentType || d.Charset != tc.charset {
			t.Errorf("Decide(%q, %q) = %v %d %q %q; want %v %d %q %q", tc.mime, tc.name,
				d.Action, d.Kind, d.ContentType, d.Charset, tc.action, tc.kind, tc.contentType, tc.charset)
		}
		if d.Action == Warn && d.Reason == "" {
			t.Errorf("Decide(%q): a warning without a reason", tc.mime)
		}
	}
}

func TestHeader(t *testing.T) {
	h := Decide("text/html", "p.html").Header()
	for k, want := range map[string]string{
		"Content-Type":                 "text/html; charset=utf-8",
		"X-Content-Type-Options":       "nosniff",
		"Referrer-Policy":              "no-referrer",
		"X-Frame-Options":              "DENY",
		"Cross-Origin-Resource-Policy": "same-origin",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	csp := h.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'self'", "script-src 'none'", "object-src 'none'",
		"base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'", "connect-src 'none'"} {
		if !strings.Contains(csp, d+";") {
			t.Errorf("CSP %q lacks %q", csp, d)
		}
	}
	if strings.Contains(csp, "allow-scripts") || strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q allows scripts", csp)
	}
	if h.Get("Content-Disposition") != "" {
		t.Errorf("rendered page served as a download")
	}
	for _, tc := range []struct{ mime, name, want string }{
		{"application/pdf", "dir/report.pdf", `attachment; filename=report.pdf`},
		{"video/mp4", `a\"b.mp4`, `attachment; filename=b.mp4`},
		{"video/mp4", `x"y.mp4`, `attachment; filename=xy.mp4`},
		{"application/zip", "", `attachment; filename=download`},
		{"application/zip", "ünï.zip", `attachment; filename*=utf-8''%C3%BCn%C3%AF.zip`},
		{"application/zip", "a\r\nSet-Cookie: x.zip", `attachment; filename="aSet-Cookie: x.zip"`},
	} {
		if got := Decide(tc.mime, tc.name).Header().Get("Content-Disposition"); got != tc.want {
			t.Errorf("Content-Disposition for %q: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A saved file's name says what the filter decided the content is, never what the site
// claimed (issue 16, finding 2).
func TestSavedName(t *testing.T) {
	for _, tc := range []struct{ mime, name, want string }{
		{"audio/mpeg", "readme.html", "readme.mp3"},
		{"audio/mpeg", "song.mp3", "song.mp3"},
		{"audio/mpeg", "song.MP3", "song.MP3"},
		{"audio/mpeg", "setup.exe", "setup.mp3"},
		{"audio/mpeg", "x.desktop", "x.mp3"},
		{"audio/mpeg", "", "download.mp3"},
		{"audio/mpeg", ".html", "html.mp3"},
		{"video/mp4", "clip.pdf", "clip.mp4"},
		{"video/mp4", "clip.m4v", "clip.m4v"},
		{"application/pdf", "invoice.html", "invoice.pdf"},
		{"application/pdf", "invoice", "invoice.pdf"},
		{"image/svg+xml", "logo.html", "logo.svg"},
		{"application/octet-stream", "x.svg", "x.svg"},
		{"application/x-msdownload", "setup.exe", "setup.exe"},
		{"application/zip", "a.tar.gz", "a.tar.gz"},
		{"application/x-foo", "readme.html", "readme.bin"},
		{"application/x-foo", "notes.TXT", "notes.bin"},
		{"text/javascript", "x.pdf", "x.bin"},
		{"", "noname", "noname"},
	} {
		if got := Decide(tc.mime, tc.name).Name; got != tc.want {
			t.Errorf("Decide(%q, %q).Name = %q, want %q", tc.mime, tc.name, got, tc.want)
		}
	}
	// Every type the filter knows has an extension of its own.
	for ext, typ := range byExtension {
		if _, ok := ownExtension[typ]; !ok {
			t.Errorf("%s (%s) has no extension of its own", typ, ext)
		}
	}
}

func TestDecisionFilter(t *testing.T) {
	var out bytes.Buffer
	if err := Decide("text/plain", "").Filter(&out, strings.NewReader("<script>x</script>"), page); err != nil {
		t.Fatal(err)
	}
	if out.String() != "<script>x</script>" {
		t.Errorf("text changed: %q", out.String())
	}
	out.Reset()
	if err := Decide("text/css", "").Filter(&out, strings.NewReader("a{b:url(http://x/)}"), cssPage); err != nil || out.String() != "a{}\n" {
		t.Errorf("CSS through Filter: %q, %v", out.String(), err)
	}
	out.Reset()
	if err := Decide("image/png", "").Filter(&out, strings.NewReader("GIF89a"), page); err == nil {
		t.Errorf("a GIF passed as PNG")
	}
}
