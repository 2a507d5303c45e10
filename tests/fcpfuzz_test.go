package tests

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/fcp"
)

// drainBackend is an fcp.Backend that takes every insert (reading all its data) and finds
// nothing: the server's handling of what clients send is what FuzzFCPServer exercises.
type drainBackend struct{}

func (drainBackend) Put(ctx context.Context, req fcp.PutRequest, progress func(fcp.Progress)) (crypto.RequestURI, error) {
	h := sha256.New()
	n, err := io.Copy(h, req.Data)
	if err != nil {
		return crypto.RequestURI{}, err
	}
	if n != req.DataLength {
		return crypto.RequestURI{}, fmt.Errorf("got %d bytes, DataLength %d", n, req.DataLength)
	}
	key := [crypto.KeySize]byte(h.Sum(nil))
	return crypto.RequestURI{Type: crypto.CHK, Key: key, Crypto: key}, nil
}

func (drainBackend) PutDir(ctx context.Context, req fcp.PutDirRequest, progress func(fcp.Progress)) (crypto.RequestURI, error) {
	for _, e := range req.Entries {
		if !e.IsRedirect() {
			if _, err := io.Copy(io.Discard, e.Data); err != nil {
				return crypto.RequestURI{}, err
			}
		}
	}
	return req.URI.RequestURI()
}

func (drainBackend) Get(ctx context.Context, req fcp.GetRequest, progress func(fcp.Progress)) (fcp.Found, io.ReadCloser, error) {
	return fcp.Found{}, nil, fmt.Errorf("%s: %w", req.URI, fcp.ErrDataNotFound)
}

// pipeListener hands the server one end of in-memory connections.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

func (l *pipeListener) dial() net.Conn {
	client, server := net.Pipe()
	l.conns <- server
	return client
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// serveFCP starts a server on in-memory connections and closes it when the test ends.
func serveFCP(tb testing.TB) *pipeListener {
	tb.Helper()
	s, err := fcp.NewServer(fcp.Config{Backend: drainBackend{}, MaxDataLength: 1 << 20, TempDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	l := &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	tb.Cleanup(func() {
		s.Close()
		if err := <-done; err != fcp.ErrServerClosed {
			tb.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return l
}

const fcpHello = "ClientHello\nName=fuzz\nExpectedVersion=2.0\nEndMessage\n"

// FuzzFCPServer: whatever a client sends over the client protocol, the server neither
// panics nor stops serving: after the fuzzer's connection ends, a new client is still
// greeted. FuzzReadMessage (package fcp) fuzzes the message parser alone; this target
// takes the bytes through the handlers, the field parsers, the data of puts and sites.
func FuzzFCPServer(f *testing.F) {
	for _, s := range []string{
		fcpHello,
		fcpHello + "GenerateSSK\nIdentifier=a\nEndMessage\n",
		fcpHello + "ClientPut\nURI=CHK@\nIdentifier=p\nUploadFrom=direct\nMetadata.ContentType=text/plain\nDataLength=5\nData\nhello",
		fcpHello + "ClientPut\nURI=KSK@fuzz\nIdentifier=k\nPersistence=forever\nGlobal=true\nDataLength=1\nData\nx",
		fcpHello + "ClientGet\nURI=CHK@AAAA,BBBB,AAIC--8/x\nIdentifier=g\nReturnType=direct\nMaxSize=100\nEndMessage\n",
		fcpHello + "ClientPutComplexDir\nURI=CHK@\nIdentifier=d\nDefaultName=index.html\nFiles.0.Name=index.html\nFiles.0.UploadFrom=direct\nFiles.0.DataLength=2\nFiles.1.Name=r\nFiles.1.UploadFrom=redirect\nFiles.1.TargetURI=KSK@x\nData\nhi",
		fcpHello + "WatchGlobal\nEnabled=true\nEndMessage\nListPersistentRequests\nEndMessage\nGetRequestStatus\nIdentifier=k\nGlobal=true\nEndMessage\nRemovePersistentRequest\nIdentifier=k\nGlobal=true\nEndMessage\n",
		"ClientGet\nURI=KSK@a\nIdentifier=early\nEndMessage\n",
		fcpHello + "ClientPut\nURI=CHK@\nIdentifier=p\nDataLength=99999999999\nData\n",
	} {
		f.Add([]byte(s))
	}
	l := serveFCP(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		c := l.dial()
		done := make(chan struct{})
		go func() {
			defer close(done)
			io.Copy(io.Discard, c)
		}()
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		// The server may close the connection part-way (a fatal protocol error); it must
		// not stop reading while it is open.
		if _, err := c.Write(in); isTimeout(err) {
			t.Fatalf("the server took no input for 5 s: %v", err)
		}
		c.Close()
		<-done
		greeted(t, l)
	})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// greeted checks that a new client gets NodeHello.
func greeted(t *testing.T, l *pipeListener) {
	t.Helper()
	c := l.dial()
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, fcpHello); err != nil {
		t.Fatalf("the server no longer takes a ClientHello: %v", err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "NodeHello" {
		t.Fatalf("the server no longer answers a ClientHello: %q, %v", line, err)
	}
}
