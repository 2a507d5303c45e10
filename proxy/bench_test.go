package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"

	"lethe/fetch"
	"lethe/insert"
)

// BenchmarkServe measures one client fetching a 1 MiB file the node holds: through the
// proxy over loopback HTTP, beside the fetch library alone (blocks from memory, verified,
// decrypted, joined: what the proxy cannot do faster than) and beside a plain Go HTTP server
// writing the same bytes from memory (what loopback HTTP costs).
func BenchmarkServe(b *testing.B) {
	data := randomBytes(11, loadSize)
	p := newTestProxy(b, Config{})
	uri := insertFile(b, p.st, data, insert.Config{Name: "film.mp4"})
	buf := make([]byte, 64<<10)

	b.Run("fetch", func(b *testing.B) {
		f := fetch.New(p.st, fetch.Config{})
		doc, err := f.Resolve(context.Background(), uri)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(loadSize)
		for b.Loop() {
			r, err := f.OpenDocument(context.Background(), doc)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.CopyBuffer(io.Discard, r, buf); err != nil {
				b.Fatal(err)
			}
			r.Close()
		}
	})
	b.Run("proxy", func(b *testing.B) {
		url := p.url + pathOf(uri)
		b.SetBytes(loadSize)
		for b.Loop() {
			if err := fetchOnce(context.Background(), p.client, url, loadSize, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw-http", func(b *testing.B) {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Write(data)
		})}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go srv.Serve(ln)
		defer srv.Close()
		url := "http://" + ln.Addr().String() + "/"
		b.SetBytes(loadSize)
		for b.Loop() {
			if err := fetchOnce(context.Background(), p.client, url, loadSize, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}
