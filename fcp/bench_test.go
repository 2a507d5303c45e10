package fcp

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"

	"lethe/crypto"
)

// The benchmarks measure small requests through the server over loopback TCP, with the
// in-memory test Backend, beside the raw limit measured in the same run: a loopback TCP
// round trip of a message of the same size (BenchmarkLoopbackRoundTrip). The ratio is the
// server's and client's own cost per request. Run:
//
//	go test ./fcp -run '^$' -bench . -benchtime 2s

const benchPayload = helloText // 14 bytes, fcpput's example

// BenchmarkLoopbackRoundTrip is the floor: a client writes a ClientPut-sized request and reads
// a PutSuccessful-sized reply from an echo server that does nothing else.
func BenchmarkLoopbackRoundTrip(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	req := []byte(pyPut("id2943690444352725", benchPayload))
	reply := bytes.Repeat([]byte("r"), 260) // about a URIGenerated plus a PutSuccessful
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		buf := make([]byte, len(req))
		for {
			if _, err := io.ReadFull(nc, buf); err != nil {
				return
			}
			if _, err := nc.Write(reply); err != nil {
				return
			}
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	buf := make([]byte, len(reply))
	b.SetBytes(int64(len(benchPayload)))
	for b.Loop() {
		if _, err := nc.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(nc, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

func benchClient(b *testing.B) *Client {
	_, addr := startServer(b, Config{})
	return dialClient(b, addr)
}

// BenchmarkPut is one ClientPut of 14 bytes after another, each waiting for PutSuccessful.
func BenchmarkPut(b *testing.B) {
	c := benchClient(b)
	ctx := context.Background()
	r := strings.NewReader(benchPayload)
	b.SetBytes(int64(len(benchPayload)))
	for b.Loop() {
		r.Reset(benchPayload)
		if _, err := c.Put(ctx, PutRequest{URI: chkInsert(), Data: r, DataLength: int64(len(benchPayload))}, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkGet is one ClientGet of 14 bytes after another, each waiting for AllData.
func BenchmarkGet(b *testing.B) {
	c := benchClient(b)
	ctx := context.Background()
	uri, err := c.Put(ctx, PutRequest{URI: chkInsert(), Data: strings.NewReader(benchPayload), DataLength: int64(len(benchPayload))}, nil)
	if err != nil {
		b.Fatal(err)
	}
	var out bytes.Buffer
	b.SetBytes(int64(len(benchPayload)))
	for b.Loop() {
		out.Reset()
		if _, err := c.Get(ctx, GetRequest{URI: uri}, &out, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkGetParallel is many ClientGets in flight at once on one connection.
func BenchmarkGetParallel(b *testing.B) {
	c := benchClient(b)
	ctx := context.Background()
	uri, err := c.Put(ctx, PutRequest{URI: chkInsert(), Data: strings.NewReader(benchPayload), DataLength: int64(len(benchPayload))}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(benchPayload)))
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		var out bytes.Buffer
		for pb.Next() {
			out.Reset()
			if _, err := c.Get(ctx, GetRequest{URI: uri}, &out, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// cycle is an endless stream of the same message.
type cycle struct {
	msg []byte
	off int
}

func (c *cycle) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], c.msg[c.off:])
		n += k
		c.off = (c.off + k) % len(c.msg)
	}
	return n, nil
}

// BenchmarkReadMessage parses fcpput's ClientPut, one after another from a stream, beside
// BenchmarkReadLines, which only splits the same stream into lines with bufio.
func BenchmarkReadMessage(b *testing.B) {
	msg := pyPut("id2943690444352725", benchPayload)
	r := NewReader(&cycle{msg: []byte(msg)}, 1<<20)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := r.ReadMessage(); err != nil {
			b.Fatal(err)
		}
		if err := r.Skip(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadLines(b *testing.B) {
	msg := pyPut("id2943690444352725", benchPayload)
	br := bufio.NewReaderSize(&cycle{msg: []byte(msg)}, 2*MaxFieldLine)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if string(line) == "Data\n" {
				break
			}
		}
		br.Discard(len(benchPayload))
	}
}

// sinkBackend inserts into nothing and fetches zeros: it costs next to nothing, so that the
// large-data benchmarks measure the protocol's own streaming.
type sinkBackend struct{}

func (sinkBackend) Put(ctx context.Context, req PutRequest, progress func(Progress)) (crypto.RequestURI, error) {
	_, err := io.Copy(io.Discard, req.Data)
	return chkURI(nil), err
}

func (sinkBackend) PutDir(context.Context, PutDirRequest, func(Progress)) (crypto.RequestURI, error) {
	return chkURI(nil), nil
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func (sinkBackend) Get(ctx context.Context, req GetRequest, progress func(Progress)) (Found, io.ReadCloser, error) {
	return Found{DataLength: largeSize}, io.NopCloser(io.LimitReader(zeros{}, largeSize)), nil
}

const largeSize = 16 << 20

// BenchmarkLoopbackCopy is the floor for large data: 16 MiB through a loopback TCP connection.
func BenchmarkLoopbackCopy(b *testing.B) {
	ln := mustListen(b)
	defer ln.Close()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				io.Copy(io.Discard, nc)
				nc.Write([]byte{1})
				nc.Close()
			}()
		}
	}()
	b.SetBytes(largeSize)
	for b.Loop() {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(nc, io.LimitReader(zeros{}, largeSize))
		nc.(*net.TCPConn).CloseWrite()
		io.ReadFull(nc, make([]byte, 1))
		nc.Close()
	}
}

// BenchmarkPutLarge streams 16 MiB through ClientPut to a Backend that discards it.
func BenchmarkPutLarge(b *testing.B) {
	_, addr := startServer(b, Config{Backend: sinkBackend{}})
	c := dialClient(b, addr)
	b.SetBytes(largeSize)
	for b.Loop() {
		if _, err := c.Put(context.Background(), PutRequest{URI: chkInsert(), Data: io.LimitReader(zeros{}, largeSize), DataLength: largeSize}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetLarge fetches 16 MiB through ClientGet: the node holds the content in a
// temporary file before AllData, so that a failure part-way is a clean GetFailed.
func BenchmarkGetLarge(b *testing.B) {
	_, addr := startServer(b, Config{Backend: sinkBackend{}, TempDir: b.TempDir()})
	c := dialClient(b, addr)
	b.SetBytes(largeSize)
	for b.Loop() {
		if _, err := c.Get(context.Background(), GetRequest{URI: chkURI(nil)}, io.Discard, nil); err != nil {
			b.Fatal(err)
		}
	}
}
