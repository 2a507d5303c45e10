package fcp

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines of package fcp still running after the tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// leakedGoroutines returns the stacks of goroutines still running code of this package (other
// than the test runner), after giving them a moment to end.
func leakedGoroutines() string {
	var leaked []string
	for range 50 {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		leaked = leaked[:0]
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "lethe/fcp.") && !strings.Contains(g, "lethe/fcp.TestMain") &&
				!strings.Contains(g, "leakedGoroutines") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		time.Sleep(20 * time.Millisecond)
	}
	return strings.Join(leaked, "\n\n")
}

// startServer serves cfg (with a memBackend if it has none) on a loopback port and closes it
// when the test ends.
func startServer(tb testing.TB, cfg Config) (*Server, string) {
	tb.Helper()
	if cfg.Backend == nil {
		cfg.Backend = newMemBackend()
	}
	s, err := NewServer(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	tb.Cleanup(func() {
		s.Close()
		if err := <-done; err != ErrServerClosed {
			tb.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return s, ln.Addr().String()
}

// rawConn is a client that writes exact bytes and reads replies with its own parser,
// written from spec §16.1 apart from the package's Reader, so that the server's output is
// checked against the text of the protocol rather than against itself.
type rawConn struct {
	tb testing.TB
	nc net.Conn
	br *bufio.Reader
}

// rawMsg is a message as rawConn read it.
type rawMsg struct {
	name   string
	keys   []string // in the order received
	fields map[string]string
	end    string // "EndMessage" or "Data"
	data   []byte
}

func (m rawMsg) String() string {
	var b strings.Builder
	b.WriteString(m.name + "\n")
	for _, k := range m.keys {
		b.WriteString(k + "=" + m.fields[k] + "\n")
	}
	b.WriteString(m.end)
	return b.String()
}

func (m rawMsg) index(key string) int { return slices.Index(m.keys, key) }

func dialRaw(tb testing.TB, addr string) *rawConn {
	tb.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { nc.Close() })
	return &rawConn{tb: tb, nc: nc, br: bufio.NewReader(nc)}
}

func (c *rawConn) send(s string) {
	c.tb.Helper()
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.tb.Fatalf("send: %v", err)
	}
}

func (c *rawConn) line() (string, error) {
	s, err := c.br.ReadString('\n')
	if err != nil {
		return "", err
	}
	if strings.HasSuffix(s, "\r\n") {
		return "", fmt.Errorf("line %q ends in \\r\\n", s)
	}
	return strings.TrimSuffix(s, "\n"), nil
}

// read reads one message, failing the test if the framing is wrong in any way.
func (c *rawConn) read() rawMsg {
	c.tb.Helper()
	m, err := c.tryRead(10 * time.Second)
	if err != nil {
		c.tb.Fatalf("read: %v", err)
	}
	return m
}

func (c *rawConn) tryRead(timeout time.Duration) (rawMsg, error) {
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	defer c.nc.SetReadDeadline(time.Time{})
	name, err := c.line()
	if err != nil {
		return rawMsg{}, err
	}
	if name == "" || strings.Contains(name, "=") {
		return rawMsg{}, fmt.Errorf("bad message name line %q", name)
	}
	m := rawMsg{name: name, fields: map[string]string{}}
	for {
		l, err := c.line()
		if err != nil {
			return rawMsg{}, fmt.Errorf("%s: %w", name, err)
		}
		if l == "EndMessage" || l == "Data" {
			m.end = l
			break
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return rawMsg{}, fmt.Errorf("%s: line %q is not Key=Value", name, l)
		}
		if _, dup := m.fields[k]; dup {
			return rawMsg{}, fmt.Errorf("%s: field %s twice", name, k)
		}
		m.keys = append(m.keys, k)
		m.fields[k] = v
	}
	if m.end == "Data" {
		n, err := strconv.Atoi(m.fields["DataLength"])
		if err != nil {
			return rawMsg{}, fmt.Errorf("%s: Data without a DataLength before it: %w", name, err)
		}
		m.data = make([]byte, n)
		if _, err := io.ReadFull(c.br, m.data); err != nil {
			return rawMsg{}, fmt.Errorf("%s: data: %w", name, err)
		}
	}
	return m, nil
}

// expect reads the next message, which must be name with every one of the required fields.
func (c *rawConn) expect(name string, required ...string) rawMsg {
	c.tb.Helper()
	return c.check(c.read(), name, required)
}

func (c *rawConn) check(m rawMsg, name string, required []string) rawMsg {
	c.tb.Helper()
	if m.name != name {
		c.tb.Fatalf("got %s, want %s:\n%s", m.name, name, m)
	}
	for _, k := range required {
		if _, ok := m.fields[k]; !ok {
			c.tb.Errorf("%s lacks required field %s:\n%s", name, k, m)
		}
	}
	return m
}

// informational are the messages Freenet's clients accept and pass over while they wait for a
// request's end (docs/fcp-clients.md §4, §5).
var informational = map[string]bool{
	"SimpleProgress": true, "SendingToNetwork": true, "StartedCompression": true,
	"FinishedCompression": true, "ExpectedHashes": true, "CompatibilityMode": true,
	"EnterFiniteCooldown": true, "ExpectedMIME": true, "ExpectedDataLength": true,
	"URIGenerated": true, "PutFetchable": true,
}

// expectPast is expect after any informational messages.
func (c *rawConn) expectPast(name string, required ...string) rawMsg {
	c.tb.Helper()
	for {
		m := c.read()
		if informational[m.name] && m.name != name {
			continue
		}
		return c.check(m, name, required)
	}
}

// expectClosed checks that the server closes the connection.
func (c *rawConn) expectClosed() {
	c.tb.Helper()
	m, err := c.tryRead(10 * time.Second)
	if err == nil {
		c.tb.Fatalf("got %s, want the connection closed", m)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		c.tb.Fatal("the connection stayed open")
	}
}

// hello does the handshake the way pyFreenet does.
func (c *rawConn) hello() rawMsg {
	c.tb.Helper()
	c.send("ClientHello\nName=id2367922368008539\nExpectedVersion=2.0\nEndMessage\n")
	return c.expect("NodeHello", "FCPVersion", "Node", "Version", "Build", "CompressionCodecs", "ConnectionIdentifier", "Testnet", "NodeLanguage")
}

func wantField(tb testing.TB, m rawMsg, key, want string) {
	tb.Helper()
	if got, ok := m.fields[key]; !ok || got != want {
		tb.Errorf("%s: %s=%q, want %q\n%s", m.name, key, got, want, m)
	}
}

func dialClient(tb testing.TB, addr string) *Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := c.Hello(ctx, "test"); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}
