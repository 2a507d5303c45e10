package fcp

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// Issue 16, finding 4: what a web page can send to the client protocol's port (a fetch, an
// image, a WebSocket: HTTP requests that never say EndMessage) is refused at once, so that
// pages cannot hold the node's connections. Before, each held one of its 128 connections for
// ever.
func TestHTTPRequestRefusedAtOnce(t *testing.T) {
	_, addr := startServer(t, Config{MaxConns: 4})
	for _, tc := range []struct{ name, request string }{
		{"fetch", "GET / HTTP/1.1\r\nHost: 127.0.0.1:9481\r\nOrigin: http://evil.example\r\nSec-Fetch-Mode: cors\r\n\r\n"},
		{"image", "GET /x.png HTTP/1.1\r\nHost: 127.0.0.1:9481\r\nAccept: image/*\r\n\r\n"},
		{"form post", "POST / HTTP/1.1\r\nHost: 127.0.0.1:9481\r\nContent-Type: text/plain\r\nContent-Length: 42\r\n\r\nClientHello\nName=x\nExpectedVersion=2.0\nEnd"},
		{"websocket", "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:9481\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
		{"HTTP/1.0, bare line end", "HEAD / HTTP/1.0\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// More of them than the server has connections: each must be gone at once.
			for range 8 {
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				io.WriteString(nc, tc.request)
				nc.SetReadDeadline(time.Now().Add(5 * time.Second))
				answer, err := io.ReadAll(nc)
				nc.Close()
				if err != nil {
					t.Fatalf("the connection stayed open: %v", err)
				}
				if !strings.HasPrefix(string(answer), "HTTP/1.1 400 ") {
					t.Fatalf("answered %q, want an HTTP 400", answer)
				}
			}
		})
	}
	c := dialRaw(t, addr)
	c.hello() // and a client still gets in
}

// The first message must arrive whole within FirstMessageTimeout: a connection that sends
// nothing, or never ends its ClientHello, is closed.
func TestFirstMessageDeadline(t *testing.T) {
	_, addr := startServer(t, Config{FirstMessageTimeout: 300 * time.Millisecond})
	for _, sent := range []string{"", "ClientHello\n", "ClientHello\nName=slow\nExpectedVersion=2.0\n"} {
		c := dialRaw(t, addr)
		c.send(sent)
		start := time.Now()
		c.expectClosed()
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("after %q: closed after %v", sent, d)
		}
	}
	c := dialRaw(t, addr)
	c.hello()
	time.Sleep(500 * time.Millisecond) // past the first-message deadline: it no longer applies
	c.send("Void\nEndMessage\n")
	c.send(getMessage("g", "CHK@nonsense", ""))
	c.expect("ProtocolError", "Code")
}

// Between messages, a connection that waits for nothing is closed after IdleTimeout without
// a byte from its client; one that waits for its request's end is not, however long that
// takes, and a long message's data keeps its connection alive.
func TestIdleDeadline(t *testing.T) {
	const idle = 300 * time.Millisecond
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	backend := &funcBackend{memBackend: newMemBackend()}
	backend.get = func(ctx context.Context, req GetRequest, progress func(Progress)) (Found, io.ReadCloser, error) {
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
			return Found{}, nil, ctx.Err()
		}
		return Found{}, nil, ErrDataNotFound
	}
	_, addr := startServer(t, Config{Backend: backend, IdleTimeout: idle})

	silent := dialRaw(t, addr)
	silent.hello()
	silent.expectClosed()

	waiting := dialRaw(t, addr)
	waiting.hello()
	waiting.send(getMessage("g", chkURI([]byte("x")).String(), ""))
	within(t, started, "the fetch to start")
	time.Sleep(5 * idle) // the client waits for its fetch: not idle
	close(release)
	waiting.expectPast("GetFailed", "Code")
	waiting.expectClosed() // now it waits for nothing

	watcher := dialRaw(t, addr)
	watcher.hello()
	watcher.send("WatchGlobal\nEnabled=true\nEndMessage\n")
	time.Sleep(5 * idle)
	watcher.send("ListPersistentRequests\nEndMessage\n")
	watcher.expect("EndListPersistentRequests")

	// A slow upload: data trickles in for longer than the idle timeout.
	uploader := dialRaw(t, addr)
	uploader.hello()
	data := strings.Repeat("x", 10)
	// Persistent, so that its data is read before the request runs: only the bytes keep the
	// connection alive meanwhile.
	uploader.send("ClientPut\nIdentifier=p\nURI=CHK@\nGetCHKOnly=true\nPersistence=reboot\nDataLength=10\nData\n")
	for i := range data {
		time.Sleep(idle / 3)
		uploader.send(data[i : i+1])
	}
	uploader.expectPast("PutSuccessful", "URI")
}

func TestLooksLikeHTTP(t *testing.T) {
	for _, tc := range []struct {
		line string
		want bool
	}{
		{"GET / HTTP/1.1", true},
		{"GET / HTTP/1.1\r", true},
		{"POST /x?y=1 HTTP/1.0", true},
		{"OPTIONS * HTTP/1.1", true},
		{"PRI * HTTP/2.0", true},
		{"ClientHello", false},
		{"ClientGet", false},
		{"GET", false},
		{"get / HTTP/1.1", false}, // methods are upper case; nothing FCP looks like this either way
		{"GET / HTTPS/1.1", false},
		{"GET /", false},
	} {
		if got := looksLikeHTTP([]byte(tc.line)); got != tc.want {
			t.Errorf("looksLikeHTTP(%q) = %v, want %v", tc.line, got, tc.want)
		}
	}
	r := NewReader(strings.NewReader("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0)
	if _, err := r.ReadMessage(); !errors.Is(err, ErrHTTPRequest) {
		t.Errorf("ReadMessage of an HTTP request: %v, want ErrHTTPRequest", err)
	}
}
