package transport

import (
	"crypto/tls"
	"net"
	"sync"
)

// batchConn sits between a link's TLS connection and the connection beneath (the bandwidth's
// counting, then TCP) and lets one write of the link go to the kernel in one system call.
// crypto/tls writes each record (16 KiB of frames at most) to the connection by itself, so a
// 32 KiB block, three frames, took three writes into the socket, each with its share of TCP's
// work per send; gathered, a link write of up to writeBatchBytes is one. Outside a batched write
// (the handshake, an alert, a key update answered by the reading side) it writes straight
// through; a record written from another goroutine during a batch joins the batch in the order
// crypto/tls wrote it.
type batchConn struct {
	net.Conn
	mu   sync.Mutex
	hold bool   // a batched write is running: records gather in buf; guarded by mu
	buf  []byte // guarded by mu
}

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hold {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// batched is a TLS connection whose Write sends the records it makes in one write of the
// connection beneath.
type batched struct {
	*tls.Conn
	raw *batchConn
}

func (b batched) Write(p []byte) (int, error) {
	c := b.raw
	c.mu.Lock()
	c.hold = true
	c.mu.Unlock()
	n, err := b.Conn.Write(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hold = false
	if len(c.buf) > 0 {
		// The records are sealed: they go out even if the TLS write failed part-way, since
		// crypto/tls counted them in its sequence numbers.
		_, werr := c.Conn.Write(c.buf)
		if err == nil {
			err = werr
		}
		if cap(c.buf) > 2*writeBatchBytes {
			c.buf = nil // one write of a larger message: do not keep its buffer
		} else {
			c.buf = c.buf[:0]
		}
	}
	return n, err
}
