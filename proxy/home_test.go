package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"lethe/insert"
)

// TestBookmarks: a bookmarked site is listed on the home page at the newest edition the
// proxy has found, the list survives a restart, and it can be removed.
func TestBookmarks(t *testing.T) {
	dir := t.TempDir()
	p := newTestProxy(t, Config{StateDir: dir})
	usk := newUSK(t, "diary", 4)
	for n := range int64(3) {
		insertSite(t, p.st, usk.WithEdition(n), map[string][]byte{"index.html": []byte("<p>hi</p>")})
	}
	site := requestURI(t, usk)
	tok := p.token(t)
	form := url.Values{"token": {tok}, "uri": {"  lethe:" + site.WithPath("/index.html").String() + " "}, "title": {"My <diary>"}}
	resp, _ := p.do(t, http.MethodPost, "/bookmarks", strings.NewReader(form.Encode()), "Content-Type: application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add: %d", resp.StatusCode)
	}
	// The search for newer editions runs in the background; the home page shows its result.
	want := `href="` + pathOf(site.WithEdition(2).WithPath("/")) + `"`
	deadline := time.Now().Add(10 * time.Second)
	var body string
	for time.Now().Before(deadline) {
		if _, body = p.get(t, "/"); strings.Contains(body, want) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(body, want) || !strings.Contains(body, "My &lt;diary&gt;") || !strings.Contains(body, `class="new"`) {
		t.Fatalf("home page:\n%s", body)
	}

	p.Close()
	again, err := New(Config{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if m := again.marks.list(); len(m) != 1 || m[0].URI != site || m[0].Title != "My <diary>" {
		t.Errorf("after a restart: %+v", m)
	}
	again.Close()

	q := newTestProxy(t, Config{StateDir: dir})
	form = url.Values{"token": {q.token(t)}, "uri": {site.WithEdition(7).String()}}
	resp, _ = q.do(t, http.MethodPost, "/bookmarks/remove", strings.NewReader(form.Encode()), "Content-Type: application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusSeeOther || len(q.marks.list()) != 0 {
		t.Errorf("remove: %d, %d left", resp.StatusCode, len(q.marks.list()))
	}
}

// TestOpen: the home page's field takes URIs as people paste them.
func TestOpen(t *testing.T) {
	p := newTestProxy(t, Config{})
	uri := insertFile(t, p.st, []byte("x"), insert.Config{Name: "x.txt"})
	for _, in := range []string{uri.String(), " lethe:" + uri.String(), "freenet:" + uri.String(), "http://127.0.0.1:8888/" + uri.String()} {
		resp, _ := p.get(t, "/open?uri="+url.QueryEscape(in))
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != pathOf(uri) {
			t.Errorf("%q: %d to %q", in, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if resp, body := p.get(t, "/open?uri=CHK%40short"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Malformed") {
		t.Errorf("a bad URI: %d", resp.StatusCode)
	}
}

// TestCancelTransfer: a download can be cancelled from the transfers page; Close ends the
// rest.
func TestCancelTransfer(t *testing.T) {
	t.Parallel()
	p := newTestProxy(t, Config{})
	f := newBigFile(t, p, "film.mp4", 9<<20, 3)
	release := f.hold(p, 1)
	defer release()
	if resp, _ := p.get(t, p.pastWarning(t, pathOf(f.uri)), navigate); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("progress page: %d", resp.StatusCode)
	}
	running, _ := p.xfers.list()
	if len(running) != 1 || !running[0].Cancellable {
		t.Fatalf("running: %+v", running)
	}
	form := url.Values{"token": {p.token(t)}}
	resp, _ := p.do(t, http.MethodPost, "/transfers/"+running[0].ID+"/cancel", strings.NewReader(form.Encode()), "Content-Type: application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("cancel: %d", resp.StatusCode)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if running, _ = p.xfers.list(); len(running) == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, finished := p.xfers.list()
	if len(running) != 0 || len(finished) != 1 || !strings.Contains(finished[0].Err, "Cancelled") {
		t.Errorf("after cancel: running %+v, finished %+v", running, finished)
	}
}

// TestCloseEndsTransfers: Close returns while fetches are held in the network, and the
// requests waiting for them end.
func TestCloseEndsTransfers(t *testing.T) {
	t.Parallel()
	p := newTestProxy(t, Config{})
	f := newBigFile(t, p, "film.mp4", 9<<20, 3)
	release := f.hold(p, 0)
	defer release()
	if resp, _ := p.get(t, p.pastWarning(t, pathOf(f.uri)), navigate); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("progress page: %d", resp.StatusCode)
	}
	streamed := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, p.url+pathOf(f.uri), nil)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := p.client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		streamed <- err
	}()
	time.Sleep(50 * time.Millisecond)
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return while fetches were held")
	}
	<-streamed
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Serve(ln); !errors.Is(err, ErrClosed) {
		t.Errorf("Serve after Close: %v, want ErrClosed", err)
	}
}
