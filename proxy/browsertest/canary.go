package browsertest

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Canary is a TCP listener on loopback that attack pages aim at: any connection to it means
// a page made the browser reach outside the proxy.
type Canary struct {
	ln   net.Listener
	done chan struct{}

	mu   sync.Mutex
	hits []string // the first line each connection sent; guarded by mu
}

// NewCanary listens on a free port of 127.0.0.1 until the test ends.
func NewCanary(tb testing.TB) *Canary {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	c := &Canary{ln: ln, done: make(chan struct{})}
	go c.accept()
	tb.Cleanup(func() { ln.Close(); <-c.done })
	return c
}

func (c *Canary) accept() {
	defer close(c.done)
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			return
		}
		conn.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 512)
		n, _ := conn.Read(buf)
		line, _, _ := strings.Cut(string(buf[:n]), "\n")
		conn.Close()
		c.mu.Lock()
		c.hits = append(c.hits, fmt.Sprintf("%q", line))
		c.mu.Unlock()
	}
}

// Addr is the canary's host and port.
func (c *Canary) Addr() string { return c.ln.Addr().String() }

// Received lists the first line of every connection made to the canary.
func (c *Canary) Received() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.hits)
}
