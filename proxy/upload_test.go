package proxy

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"lethe/crypto"
	"lethe/fetch"
	"lethe/insert"
)

// formPart is one part of a multipart form, in order: a field, or a file when name is set.
type formPart struct {
	field, value string
	file         string
	data         []byte
}

func multipartBody(tb testing.TB, parts []formPart) (io.Reader, string) {
	tb.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		var err error
		if p.file != "" || p.data != nil {
			var w io.Writer
			if w, err = mw.CreateFormFile(p.field, p.file); err == nil {
				_, err = w.Write(p.data)
			}
		} else {
			err = mw.WriteField(p.field, p.value)
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	mw.Close()
	return &b, mw.FormDataContentType()
}

// postInsert sends the insert form and returns the transfer page it leads to.
func (p *testProxy) postInsert(tb testing.TB, parts []formPart) (*http.Response, string) {
	tb.Helper()
	body, ct := multipartBody(tb, parts)
	resp, page := p.do(tb, http.MethodPost, "/insert", body, "Content-Type: "+ct)
	if resp.StatusCode != http.StatusSeeOther {
		return resp, page
	}
	return p.get(tb, resp.Header.Get("Location"))
}

var resultPattern = regexp.MustCompile(`<p class="result"><code>([^<]+)</code>`)

func resultURI(tb testing.TB, page string) crypto.RequestURI {
	tb.Helper()
	m := resultPattern.FindStringSubmatch(page)
	if m == nil {
		tb.Fatalf("no URI on the result page:\n%s", page)
	}
	u, err := crypto.ParseURI(m[1])
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// TestInsertFile: a file uploaded on the insert page is inserted, the result page shows its
// URI, and the proxy serves it back.
func TestInsertFile(t *testing.T) {
	p := newTestProxy(t, Config{})
	data := randomBytes(5, 300<<10)
	resp, page := p.postInsert(t, []formPart{
		{field: "token", value: p.token(t)}, {field: "what", value: "file"}, {field: "target", value: "chk"},
		{field: "file", file: "song.mp3", data: data},
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("insert: %d\n%s", resp.StatusCode, page)
	}
	uri := resultURI(t, page)
	if uri.Type != crypto.CHK {
		t.Errorf("inserted as %v", uri.Type)
	}
	if _, body := p.get(t, pathOf(uri)); body != string(data) {
		t.Errorf("the inserted file comes back as %d bytes", len(body))
	}
	_, list := p.get(t, "/transfers")
	if !strings.Contains(list, "song.mp3") || !strings.Contains(list, uri.String()) {
		t.Errorf("the transfers page does not show the insert:\n%s", list)
	}
}

// TestInsertSiteFiles: several files become a new site under a USK; the result page shows
// the insert URI to keep, the site is bookmarked, and it opens in the proxy.
func TestInsertSiteFiles(t *testing.T) {
	p := newTestProxy(t, Config{})
	resp, page := p.postInsert(t, []formPart{
		{field: "token", value: p.token(t)}, {field: "what", value: "site"}, {field: "target", value: "new"}, {field: "site", value: "garden"},
		{field: "files", file: "index.html", data: []byte(`<p>Welcome <a href="roses.txt">roses</a></p>`)},
		{field: "files", file: "roses.txt", data: []byte("red")},
		{field: "zip", file: "", data: []byte{}}, // the empty zip input a browser sends
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("insert: %d\n%s", resp.StatusCode, page)
	}
	uri := resultURI(t, page)
	if uri.Type != crypto.USK || uri.Site != "garden" || uri.Edition != 0 {
		t.Fatalf("site inserted as %v", uri)
	}
	m := regexp.MustCompile(`<p class="secret"><code>([^<]+)</code>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no insert URI to keep:\n%s", page)
	}
	ins, err := crypto.ParseInsertURI(m[1])
	if err != nil || requestURI(t, ins) != uri.WithPath("") {
		t.Errorf("the insert URI %q does not publish %v: %v", m[1], uri, err)
	}
	_, body := p.get(t, pathOf(uri.WithPath("/")))
	if !strings.Contains(body, "Welcome") || !strings.Contains(body, pathOf(uri.WithPath("/roses.txt"))) {
		t.Errorf("the site's index:\n%s", body)
	}
	if b := p.marks.list(); len(b) != 1 || b[0].Title != "garden" {
		t.Errorf("bookmarks %+v", b)
	}
	// The next edition, with the insert URI.
	resp, page = p.postInsert(t, []formPart{
		{field: "token", value: p.token(t)}, {field: "what", value: "site"}, {field: "target", value: "uri"},
		{field: "insert-uri", value: ins.WithEdition(1).String()},
		{field: "files", file: "index.html", data: []byte(`<p>Second</p>`)},
	})
	if next := resultURI(t, page); next.Edition != 1 {
		t.Errorf("next edition: %v", next)
	}
}

// TestInsertZip: a zip archive becomes a site with its folders; a single top folder is the
// site itself.
func TestInsertZip(t *testing.T) {
	p := newTestProxy(t, Config{})
	z := zipArchive(t, map[string]string{
		"mysite/index.html":     `<p>zip home</p>`,
		"mysite/css/style.css":  `p { color: green }`,
		"mysite/img/":           "",
		"__MACOSX/mysite/._x":   "junk",
		"mysite/docs/guide.txt": "read me",
	})
	resp, page := p.postInsert(t, []formPart{
		{field: "token", value: p.token(t)}, {field: "what", value: "site"}, {field: "target", value: "chk"},
		{field: "files", file: "", data: []byte{}},
		{field: "zip", file: "mysite.zip", data: z},
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("insert: %d\n%s", resp.StatusCode, page)
	}
	uri := resultURI(t, page)
	for path, want := range map[string]string{"/": "zip home", "/css/style.css": "green", "/docs/guide.txt": "read me"} {
		if _, body := p.get(t, pathOf(uri.WithPath(path))); !strings.Contains(body, want) {
			t.Errorf("%s: %q", path, body)
		}
	}
	if resp, _ := p.get(t, pathOf(uri.WithPath("/__MACOSX/"))); resp.StatusCode != http.StatusNotFound {
		t.Errorf("__MACOSX was inserted: %d", resp.StatusCode)
	}
}

// TestInsertRefused: without the page's token nothing is read or inserted; bad forms get a
// page that says why.
func TestInsertRefused(t *testing.T) {
	p := newTestProxy(t, Config{MaxSize: 64 << 10})
	file := formPart{field: "file", file: "a.txt", data: []byte("a")}
	resp, _ := p.postInsert(t, []formPart{{field: "what", value: "file"}, file})
	if resp.StatusCode != http.StatusForbidden || p.st.Len() != 0 {
		t.Errorf("without a token: %d, %d blocks stored", resp.StatusCode, p.st.Len())
	}
	tok := p.token(t)
	resp, _ = p.postInsert(t, []formPart{{field: "token", value: tok}, {field: "what", value: "file"}, file})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("with the token: %d", resp.StatusCode)
	}
	for name, tc := range map[string]struct {
		parts  []formPart
		status int
		says   string
	}{
		"no file":                   {[]formPart{{field: "what", value: "file"}}, http.StatusBadRequest, "no file was chosen"},
		"bad insert URI":            {[]formPart{{field: "what", value: "file"}, {field: "target", value: "uri"}, {field: "insert-uri", value: "USK@nope"}, file}, http.StatusBadRequest, "insert URI"},
		"request URI as insert URI": {[]formPart{{field: "what", value: "site"}, {field: "target", value: "uri"}, {field: "insert-uri", value: requestURI(t, newUSK(t, "x", 1)).String()}, file}, http.StatusBadRequest, "insert URI"},
		"too big":                   {[]formPart{{field: "what", value: "file"}, {field: "file", file: "big", data: randomBytes(1, 65<<10)}}, http.StatusRequestEntityTooLarge, "Too big"},
		"site name":                 {[]formPart{{field: "what", value: "site"}, {field: "target", value: "new"}, {field: "site", value: "a/b"}, file}, http.StatusBadRequest, "name"},
		"no site files":             {[]formPart{{field: "what", value: "site"}, {field: "target", value: "chk"}}, http.StatusBadRequest, "no files"},
		"files and zip":             {[]formPart{{field: "what", value: "site"}, {field: "files", file: "a", data: []byte("a")}, {field: "zip", file: "z.zip", data: zipArchive(t, map[string]string{"b": "b"})}}, http.StatusBadRequest, "not both"},
		"same name twice":           {[]formPart{{field: "what", value: "site"}, {field: "files", file: "a", data: []byte("a")}, {field: "files", file: "a", data: []byte("b")}}, http.StatusBadRequest, "two files"},
		"not a zip":                 {[]formPart{{field: "what", value: "site"}, {field: "zip", file: "z.zip", data: []byte("PK nope")}}, http.StatusBadRequest, "zip archive"},
	} {
		parts := append([]formPart{{field: "token", value: tok}}, tc.parts...)
		resp, page := p.postInsert(t, parts)
		if resp.StatusCode != tc.status || !strings.Contains(page, tc.says) {
			t.Errorf("%s: %d, want %d saying %q\n%s", name, resp.StatusCode, tc.status, tc.says, page)
		}
	}
}

func zipArchive(tb testing.TB, files map[string]string) []byte {
	tb.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			tb.Fatal(err)
		}
		io.WriteString(w, content)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// TestZipDir: names that are not paths of URI components are refused, declared sizes are
// bounded, and a file that runs past its declared size fails rather than inserting more.
func TestZipDir(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"absolute":        {"/etc/passwd": "x"},
		"dot-dot":         {"a/../../b": "x"},
		"backslash":       {`a\b`: "x"},
		"empty component": {"a//b": "x"},
		"control":         {"a\x01": "x"},
	} {
		z := zipArchive(t, files)
		zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := zipDir(zr, 1<<20); !errors.Is(err, errUpload) {
			t.Errorf("%s: %v, want errUpload", name, err)
		}
	}
	z := zipArchive(t, map[string]string{"a": strings.Repeat("x", 1000)})
	zr, _ := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if _, err := zipDir(zr, 999); !errors.Is(err, fetch.ErrTooLarge) {
		t.Errorf("over the size: %v", err)
	}
	// A zip that lies about its size: the content is longer than declared.
	zr, _ = zip.NewReader(bytes.NewReader(z), int64(len(z)))
	zr.File[0].UncompressedSize64 = 10
	dir, err := zipDir(zr, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	_, err = insert.Directory(context.Background(), insert.Discard, crypto.InsertURI{Type: crypto.CHK}, dir, insert.Config{})
	if err == nil {
		t.Error("a file longer than the zip declares was inserted")
	}
}
