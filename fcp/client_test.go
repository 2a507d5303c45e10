package fcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"lethe/crypto"
)

func testContext(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

func chkInsert() crypto.InsertURI { return crypto.InsertURI{Type: crypto.CHK} }

func TestClientHello(t *testing.T) {
	_, addr := startServer(t, Config{Build: 42, Revision: "3b64ccbe59ea", Testnet: true})
	ctx := testContext(t)
	c, err := Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Put(ctx, PutRequest{}, nil); err == nil {
		t.Error("Put before Hello was accepted")
	}
	hello, err := c.Hello(ctx, "lethe-cli")
	if err != nil {
		t.Fatal(err)
	}
	if hello.FCPVersion != "2.0" || hello.Build != 42 || hello.Revision != "3b64ccbe59ea" || !hello.Testnet || hello.Node != "Lethe" || hello.ConnectionIdentifier == "" {
		t.Errorf("NodeHello %+v", hello)
	}
	if _, err := c.Hello(ctx, "again"); err == nil {
		t.Error("a second Hello was accepted")
	}
}

func TestClientPutGet(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dialClient(t, addr)
	ctx := testContext(t)
	for _, size := range []int{0, 1, memorySpoolLimit - 1, memorySpoolLimit + 1} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			data := bytes.Repeat([]byte{byte(size)}, size)
			var seen []Progress
			uri, err := c.Put(ctx, PutRequest{
				URI: chkInsert(), ContentType: "application/x-test", TargetFilename: "f.bin",
				Data: bytes.NewReader(data), DataLength: int64(size),
			}, func(p Progress) { seen = append(seen, p) })
			if err != nil {
				t.Fatal(err)
			}
			want := chkURI(data).WithPath("/f.bin")
			if uri != want {
				t.Errorf("Put gave %s, want %s", uri, want)
			}
			var sawURI, sawBlocks bool
			for _, p := range seen {
				sawURI = sawURI || p.URI == want
				sawBlocks = sawBlocks || p.Succeeded > 0
			}
			if !sawURI || !sawBlocks {
				t.Errorf("progress %+v, want the URI and block counts", seen)
			}
			var out bytes.Buffer
			var gotType string
			found, err := c.Get(ctx, GetRequest{URI: uri}, &out, func(p Progress) {
				if p.ContentType != "" {
					gotType = p.ContentType
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), data) || found.DataLength != int64(size) || found.ContentType != "application/x-test" {
				t.Errorf("Get gave %d bytes, %+v", out.Len(), found)
			}
			if gotType != "application/x-test" {
				t.Errorf("progress reported type %q", gotType)
			}
		})
	}
}

func TestClientPutDir(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dialClient(t, addr)
	ctx := testContext(t)
	insert, request, err := c.GenerateSSK(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := insert.RequestURI(); got != request {
		t.Errorf("GenerateSSK: the insert URI's request URI is %s, not %s", got, request)
	}
	logo, err := c.Put(ctx, PutRequest{URI: chkInsert(), Data: strings.NewReader("PNG"), DataLength: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	section := func(s string) *io.SectionReader { return io.NewSectionReader(strings.NewReader(s), 0, int64(len(s))) }
	site := insert
	site.Type, site.Site, site.DocName, site.Edition = crypto.USK, "blog", "", 3
	uri, err := c.PutDir(ctx, PutDirRequest{
		URI:         site,
		DefaultName: "index.html",
		Entries: []DirEntry{
			{Name: "index.html", ContentType: "text/html", Data: section("<h1>blog</h1>")},
			{Name: "img/logo.png", ContentType: "image/png", TargetURI: logo},
			{Name: "posts/1.html", Data: section("first")},
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if uri.Type != crypto.USK || uri.Site != "blog" || uri.Edition != 3 || uri.Key != request.Key {
		t.Errorf("PutDir gave %s", uri)
	}
	for path, want := range map[string]string{"": "<h1>blog</h1>", "/img/logo.png": "PNG", "/posts/1.html": "first"} {
		var out bytes.Buffer
		if _, err := c.Get(ctx, GetRequest{URI: uri.WithPath(path)}, &out, nil); err != nil || out.String() != want {
			t.Errorf("%s: got %q, %v; want %q", path, out.String(), err, want)
		}
	}
	// An older edition is redirected to this one, and the client follows.
	var out bytes.Buffer
	if _, err := c.Get(ctx, GetRequest{URI: uri.WithEdition(1)}, &out, nil); err != nil || out.String() != "<h1>blog</h1>" {
		t.Errorf("edition 1: got %q, %v", out.String(), err)
	}
}

func TestClientErrors(t *testing.T) {
	backend := &funcBackend{memBackend: newMemBackend()}
	_, addr := startServer(t, Config{Backend: backend})
	c := dialClient(t, addr)
	ctx := testContext(t)

	_, err := c.Get(ctx, GetRequest{URI: chkURI([]byte("absent"))}, io.Discard, nil)
	var re *RequestError
	if !errors.Is(err, ErrDataNotFound) || !errors.As(err, &re) || re.Code != GetCodeDataNotFound {
		t.Errorf("absent key: %v, want ErrDataNotFound", err)
	}
	_, err = c.Put(ctx, PutRequest{URI: chkInsert(), ContentType: "not a type", Data: strings.NewReader("x"), DataLength: 1}, nil)
	var pe *ProtocolError
	if !errors.As(err, &pe) || pe.Code != CodeBadMIMEType {
		t.Errorf("bad MIME type: %v, want ProtocolError 35", err)
	}

	for _, tc := range []struct {
		err  error
		code int
	}{
		{ErrCollision, PutCodeCollision},
		{ErrRouteNotFound, PutCodeRouteNotFound},
		{ErrOverloaded, PutCodeRejectedOverload},
		{errors.New("disk\non fire"), PutCodeInternalError}, // a line break must not break the framing
	} {
		backend.put = func(context.Context, PutRequest, func(Progress)) (crypto.RequestURI, error) {
			return crypto.RequestURI{}, fmt.Errorf("insert: %w", tc.err)
		}
		_, err := c.Put(ctx, PutRequest{URI: chkInsert(), Data: strings.NewReader("x"), DataLength: 1}, nil)
		if !errors.As(err, &re) || re.Code != tc.code || tc.code != PutCodeInternalError && !errors.Is(err, tc.err) {
			t.Errorf("Backend error %v reached the client as %v", tc.err, err)
		} else if want := strings.ReplaceAll(tc.err.Error(), "\n", " "); !strings.Contains(re.Extra, want) {
			t.Errorf("ExtraDescription %q does not say %q", re.Extra, want)
		}
	}
	for _, sentinel := range []error{ErrDataNotFound, ErrRouteNotFound, ErrOverloaded, ErrTooBig, ErrAllDataNotFound, ErrNotInManifest, ErrCorrupt, ErrCancelled, crypto.ErrInvalidURI} {
		backend.get = func(context.Context, GetRequest, func(Progress)) (Found, io.ReadCloser, error) {
			return Found{}, nil, fmt.Errorf("fetch: %w", sentinel)
		}
		if _, err := c.Get(ctx, GetRequest{URI: chkURI(nil)}, io.Discard, nil); !errors.Is(err, sentinel) {
			t.Errorf("Backend error %v reached the client as %v", sentinel, err)
		}
	}
	// A Backend that returns fewer bytes than it announced fails the request.
	backend.get = func(context.Context, GetRequest, func(Progress)) (Found, io.ReadCloser, error) {
		return Found{DataLength: 10}, io.NopCloser(strings.NewReader("short")), nil
	}
	if _, err := c.Get(ctx, GetRequest{URI: chkURI(nil)}, io.Discard, nil); !errors.As(err, &re) || re.Code != GetCodeInternalError {
		t.Errorf("short data: %v, want an internal error", err)
	}
}

// TestClientCancel: a cancelled ctx returns at once and the node stops the request.
func TestClientCancel(t *testing.T) {
	stopped := make(chan struct{})
	started := make(chan struct{})
	backend := &funcBackend{memBackend: newMemBackend()}
	backend.get = func(ctx context.Context, req GetRequest, progress func(Progress)) (Found, io.ReadCloser, error) {
		close(started)
		<-ctx.Done()
		close(stopped)
		return Found{}, nil, ctx.Err()
	}
	_, addr := startServer(t, Config{Backend: backend})
	c := dialClient(t, addr)
	ctx, cancel := context.WithCancel(testContext(t))
	go func() {
		<-started
		cancel()
	}()
	if _, err := c.Get(ctx, GetRequest{URI: chkURI(nil)}, io.Discard, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Get returned %v, want context.Canceled", err)
	}
	within(t, stopped, "the node to stop the cancelled fetch")
}

func TestClientConcurrent(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dialClient(t, addr)
	ctx := testContext(t)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := []byte(strings.Repeat(fmt.Sprint(i), 1000+i))
			uri, err := c.Put(ctx, PutRequest{URI: chkInsert(), Data: bytes.NewReader(data), DataLength: int64(len(data))}, nil)
			if err != nil {
				t.Error(err)
				return
			}
			var out bytes.Buffer
			if _, err := c.Get(ctx, GetRequest{URI: uri}, &out, nil); err != nil || !bytes.Equal(out.Bytes(), data) {
				t.Errorf("request %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
}

func TestClientServerCloses(t *testing.T) {
	backend := newMemBackend()
	backend.hold = make(chan struct{})
	backend.started = make(chan string, 1)
	s, addr := startServer(t, Config{Backend: backend})
	c := dialClient(t, addr)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Get(testContext(t), GetRequest{URI: chkURI(nil)}, io.Discard, nil)
		errc <- err
	}()
	<-backend.started
	s.Close()
	if err := <-errc; !errors.Is(err, ErrClientClosed) {
		t.Errorf("Get returned %v, want ErrClientClosed", err)
	}
	if _, _, err := c.GenerateSSK(testContext(t)); !errors.Is(err, ErrClientClosed) {
		t.Errorf("GenerateSSK after the end: %v", err)
	}
}

// Example shows a program inserting a file through a node's client protocol and fetching it
// back. The node here is a test double; with a real node, dial its address (DefaultAddr).
func Example() {
	server, _ := NewServer(Config{Backend: newMemBackend()})
	defer server.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go server.Serve(ln)

	ctx := context.Background()
	client, err := Dial(ctx, ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	if _, err := client.Hello(ctx, "example"); err != nil {
		fmt.Println(err)
		return
	}
	text := "Hello, Lethe!\n"
	uri, err := client.Put(ctx, PutRequest{
		URI:         crypto.InsertURI{Type: crypto.CHK},
		ContentType: "text/plain",
		Data:        strings.NewReader(text),
		DataLength:  int64(len(text)),
	}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(uri.Type)
	var out bytes.Buffer
	found, err := client.Get(ctx, GetRequest{URI: uri}, &out, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(found.ContentType, " ", out.String())
	// Output:
	// CHK
	// text/plain Hello, Lethe!
}
