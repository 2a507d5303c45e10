package proxy

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/fetch"
	"lethe/insert"
	"lethe/metadata"
)

// bigFile is a large uncompressed file, so that ranges and streaming have segments to skip
// and to wait for.
type bigFile struct {
	data  []byte
	uri   crypto.RequestURI
	segs  [][]crypto.RoutingKey // the blocks of each segment
	start []int64               // where each segment starts in the file
}

// newBigFile inserts size random bytes as a file called name; it must make at least
// segments segments.
func newBigFile(tb testing.TB, p *testProxy, name string, size, segments int) *bigFile {
	tb.Helper()
	data := randomBytes(9, size)
	uri := insertFile(tb, p.st, data, insert.Config{Name: name})
	doc, err := fetch.New(p.st, fetch.Config{}).Resolve(context.Background(), uri)
	if err != nil {
		tb.Fatal(err)
	}
	if doc.Kind != metadata.KindSplitfile || len(doc.Split.Segments) < segments || doc.Codec != metadata.CodecNone {
		tb.Fatalf("the test file is a %v of %d segments, codec %v; want an uncompressed splitfile of %d", doc.Kind, len(doc.Split.Segments), doc.Codec, segments)
	}
	f := &bigFile{data: data, uri: uri}
	var at int64
	for _, s := range doc.Split.Segments {
		f.segs = append(f.segs, s.Routing)
		f.start = append(f.start, at)
		at += int64(s.DataBlocks) * metadata.BlockSize
	}
	return f
}

// hold makes requests for the blocks of the segments from..end wait until release is
// called (once or more).
func (f *bigFile) hold(p *testProxy, from int) (release func()) {
	held := map[crypto.RoutingKey]bool{}
	for _, seg := range f.segs[from:] {
		for _, rk := range seg {
			held[rk] = true
		}
	}
	ch := make(chan struct{})
	p.setHook(func(ctx context.Context, rk crypto.RoutingKey) error {
		if !held[rk] {
			return nil
		}
		select {
		case <-ch:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

// TestRanges: ranges are served with 206 and Content-Range, a range in the last segment is
// fetched without the segments before it, several ranges or a stale If-Range give the whole
// file, and a range past the end is a 416.
func TestRanges(t *testing.T) {
	t.Parallel()
	p := newTestProxy(t, Config{})
	f := newBigFile(t, p, "film.mp4", 9<<20, 3)
	path := pathOf(f.uri)
	size := int64(len(f.data))
	resp, _ := p.do(t, http.MethodHead, path, nil)
	etag := resp.Header.Get("ETag")
	if resp.Header.Get("Accept-Ranges") != "bytes" || etag == "" || resp.ContentLength != size {
		t.Fatalf("HEAD: ranges %q, etag %q, length %d", resp.Header.Get("Accept-Ranges"), etag, resp.ContentLength)
	}

	p.st.ResetCounts()
	last := len(f.segs) - 1
	start := f.start[last] + 12345
	resp, body := p.get(t, path, fmt.Sprintf("Range: bytes=%d-%d", start, start+99))
	if resp.StatusCode != http.StatusPartialContent || body != string(f.data[start:start+100]) ||
		resp.Header.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", start, start+99, size) {
		t.Fatalf("range in the last segment: %d, Content-Range %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Range"), len(body))
	}
	for s, seg := range f.segs[:last] {
		for _, rk := range seg {
			if n := p.st.Gets(rk); n != 0 {
				t.Fatalf("a range in the last segment fetched a block of segment %d", s+1)
			}
		}
	}

	for _, tc := range []struct {
		header, ifRange string
		status          int
		want            []byte
	}{
		{"bytes=0-0", "", http.StatusPartialContent, f.data[:1]},
		{"bytes=-10", "", http.StatusPartialContent, f.data[size-10:]},
		{fmt.Sprintf("bytes=%d-", size-5), "", http.StatusPartialContent, f.data[size-5:]},
		{fmt.Sprintf("bytes=%d-%d", 4<<20-3, 4<<20+2), etag, http.StatusPartialContent, f.data[4<<20-3 : 4<<20+3]},
		{"bytes=0-1,5-6", "", http.StatusOK, f.data},
		{"bytes=5-1", "", http.StatusOK, f.data},
		{"items=0-1", "", http.StatusOK, f.data},
		{"bytes=0-1", `"other"`, http.StatusOK, f.data},
		{fmt.Sprintf("bytes=%d-", size), "", http.StatusRequestedRangeNotSatisfiable, nil},
		{"bytes=-0", "", http.StatusRequestedRangeNotSatisfiable, nil},
	} {
		headers := []string{"Range: " + tc.header}
		if tc.ifRange != "" {
			headers = append(headers, "If-Range: "+tc.ifRange)
		}
		resp, body := p.get(t, path, headers...)
		if resp.StatusCode != tc.status || tc.want != nil && body != string(tc.want) {
			t.Errorf("Range %q If-Range %q: %d with %d bytes, want %d with %d", tc.header, tc.ifRange, resp.StatusCode, len(body), tc.status, len(tc.want))
		}
		if tc.status == http.StatusRequestedRangeNotSatisfiable && resp.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", size) {
			t.Errorf("416 with Content-Range %q", resp.Header.Get("Content-Range"))
		}
	}
}

// TestRangeOfFiltered: what the filter rewrites is never served in ranges.
func TestRangeOfFiltered(t *testing.T) {
	p := newTestProxy(t, Config{})
	uri := insertFile(t, p.st, []byte("<p>hello</p>"), insert.Config{Name: "a.html"})
	resp, body := p.get(t, pathOf(uri), "Range: bytes=0-2")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Accept-Ranges") != "none" || !strings.Contains(body, "<p>hello</p>") {
		t.Errorf("range of HTML: %d, Accept-Ranges %q, %q", resp.StatusCode, resp.Header.Get("Accept-Ranges"), body)
	}
}

// TestStreaming: the first bytes of a large file reach the client while its last segment has
// still not been fetched. (The fetch works on a few segments at once, so the file has more
// segments than that, and only the last is held back.)
func TestStreaming(t *testing.T) {
	t.Parallel()
	p := newTestProxy(t, Config{})
	f := newBigFile(t, p, "film.mp4", 17<<20, 5)
	release := f.hold(p, len(f.segs)-1)
	req, _ := http.NewRequest(http.MethodGet, p.url+pathOf(f.uri), nil)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := p.client.Do(req)
	if err != nil {
		release()
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 1<<20)
	got := make(chan error, 1)
	go func() { _, err := io.ReadFull(resp.Body, first); got <- err }()
	select {
	case err := <-got:
		if err != nil {
			release()
			t.Fatalf("first MiB: %v", err)
		}
	case <-time.After(30 * time.Second):
		release()
		t.Fatal("the first MiB did not arrive while later segments were held back")
	}
	release()
	rest, err := io.ReadAll(resp.Body)
	if err != nil || !bytes.Equal(append(first, rest...), f.data) {
		t.Fatalf("the whole file: %d bytes, %v", len(first)+len(rest), err)
	}
}

// TestProgressPage: a tab that opens a large file gets a progress page that reloads itself
// while the file is fetched in the background, and then the file; the transfers page shows
// the download meanwhile.
func TestProgressPage(t *testing.T) {
	t.Parallel()
	p := newTestProxy(t, Config{})
	f := newBigFile(t, p, "film.mp4", 9<<20, 3)
	release := f.hold(p, 2)
	link := p.pastWarning(t, pathOf(f.uri))
	resp, body := p.get(t, link, navigate)
	if resp.StatusCode != http.StatusAccepted || !strings.Contains(body, `http-equiv="refresh"`) || !strings.Contains(body, "<progress") {
		release()
		t.Fatalf("large file in a tab: %d\n%s", resp.StatusCode, body)
	}
	_, list := p.get(t, "/transfers")
	if !strings.Contains(list, "download") || !strings.Contains(list, f.uri.String()) {
		release()
		t.Errorf("the transfers page does not list the download:\n%s", list)
	}
	// Streaming it instead is offered, and works at once for the segments that are in.
	release()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, body = p.get(t, link, navigate)
		if resp.StatusCode == http.StatusOK || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp.StatusCode != http.StatusOK || body != string(f.data) || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("after the download: %d with %d bytes", resp.StatusCode, len(body))
	}
	// Served from the download's blocks: no request reaches the network.
	p.st.ResetCounts()
	resp, body = p.get(t, pathOf(f.uri), "Sec-Fetch-Mode: no-cors", "Sec-Fetch-Dest: video", "Range: bytes=100-199") // a <video> of a page
	if resp.StatusCode != http.StatusPartialContent || body != string(f.data[100:200]) || p.st.TotalGets() != 0 {
		t.Errorf("a range of the download: %d, %d requests to the network", resp.StatusCode, p.st.TotalGets())
	}
}

// TestProgressOfWarnedFile: a large file behind the warning keeps the user's confirmation
// through the progress page and its link to stream at once.
func TestProgressOfWarnedFile(t *testing.T) {
	t.Parallel()
	p := newTestProxy(t, Config{})
	f := newBigFile(t, p, "disk.img", 9<<20, 3)
	release := f.hold(p, 2)
	defer release()
	resp, body := p.get(t, p.pastWarning(t, pathOf(f.uri)), navigate)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("confirmed large file: %d", resp.StatusCode)
	}
	s := regexp.MustCompile(`href="([^"]+stream=1[^"]*)"`).FindStringSubmatch(body)
	if s == nil || !strings.Contains(s[1], "download=") {
		t.Fatalf("the stream link loses the confirmation: %v", s)
	}
	release()
	resp, body = p.get(t, html.UnescapeString(s[1]), navigate)
	if resp.StatusCode != http.StatusOK || body != string(f.data) || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("streamed: %d, %d bytes, %q", resp.StatusCode, len(body), resp.Header.Get("Content-Type"))
	}
}
