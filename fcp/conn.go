package fcp

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"lethe/private"
)

// conn is one client connection: a read loop in serve and writes from any goroutine.
type conn struct {
	srv    *Server
	nc     net.Conn
	r      *Reader
	id     string          // ConnectionIdentifier
	ctx    context.Context // ends with the connection; Persistence=connection requests use it
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup // the connection's requests

	wmu  sync.Mutex // guards w and broken
	w    *bufio.Writer
	dead bool

	watchGlobal atomic.Bool

	idleMu    sync.Mutex // serialises setting the read deadline between messages; guards idleArmed
	idleArmed bool       // the idle deadline is set: the connection waits for nothing

	mu       sync.Mutex // guards name, reqs and sessions
	name     string     // from ClientHello
	reqs     map[string]*request
	sessions map[string]context.Context // by the client's Session name (session.go)
	subs     subscriptions              // SubscribeUSK's, by Identifier
	dda      dda                        // the directories the client proved it can read
}

func newConn(s *Server, nc net.Conn, n uint64) *conn {
	var idb [16]byte
	if _, err := io.ReadFull(s.cfg.Rand, idb[:]); err != nil {
		idb[0], idb[1] = byte(n>>8), byte(n)
	}
	c := &conn{
		srv:  s,
		nc:   nc,
		w:    bufio.NewWriterSize(nc, 64<<10),
		id:   hex.EncodeToString(idb[:]),
		reqs: map[string]*request{},
	}
	c.r = NewReader(activityReader{c}, s.cfg.MaxDataLength)
	c.ctx, c.cancel = context.WithCancelCause(s.ctx)
	return c
}

// Deadlines (spec §16.1). A connection must send its whole first message within
// FirstMessageTimeout of being accepted; after that, a connection that waits for nothing is
// closed when no byte has arrived from it for IdleTimeout. Connections that wait for a
// request's end, or watch a queue, are never closed for silence.

// activityReader reads from the connection and extends the idle deadline whenever bytes
// arrive, so that a client sending a long message's data is never idle.
type activityReader struct{ c *conn }

func (a activityReader) Read(p []byte) (int, error) {
	n, err := a.c.nc.Read(p)
	if n > 0 {
		a.c.idleMu.Lock()
		if a.c.idleArmed {
			a.c.nc.SetReadDeadline(time.Now().Add(a.c.srv.cfg.IdleTimeout))
		}
		a.c.idleMu.Unlock()
	}
	return n, err
}

// armIdle sets the deadline of the wait for the client's next bytes: IdleTimeout from now if
// the connection waits for nothing, none if it does. It is called before each message is
// read and when a request of the connection ends.
func (c *conn) armIdle() {
	c.idleMu.Lock()
	defer c.idleMu.Unlock()
	c.mu.Lock()
	running, name := len(c.reqs), c.name
	c.mu.Unlock()
	c.idleArmed = running == 0 && !c.watchGlobal.Load() && !c.srv.queue.waiting(owner{name: name}) && !c.subs.any()
	if c.idleArmed {
		c.nc.SetReadDeadline(time.Now().Add(c.srv.cfg.IdleTimeout))
	} else {
		c.nc.SetReadDeadline(time.Time{})
	}
}

func (c *conn) clientName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.name
}

// send writes one message, and its data if it has any, and flushes. An error means the
// connection is broken; it is closed so that the read loop ends too.
func (c *conn) send(m *Message, data io.Reader) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(m, data, true)
}

// sendAll writes messages without data together, with one flush.
func (c *conn) sendAll(msgs ...*Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for i, m := range msgs {
		if err := c.writeLocked(m, nil, i == len(msgs)-1); err != nil {
			return err
		}
	}
	return nil
}

func (c *conn) writeLocked(m *Message, data io.Reader, flush bool) error {
	if c.dead {
		return net.ErrClosed
	}
	err := WriteMessage(c.w, m, data)
	if errors.Is(err, ErrFormat) { // nothing was written: a bug here, not a broken connection
		c.srv.log.Error("fcp: a reply cannot be framed", "message", m.Name, "err", private.Error{Err: err})
		return err
	}
	if err == nil && flush {
		err = c.w.Flush()
	}
	if err != nil {
		c.dead = true
		c.nc.Close()
		c.srv.log.Debug("fcp: write failed", "message", m.Name, "err", private.Error{Err: err})
	}
	return err
}

func (c *conn) protocolError(code int, extra, identifier string, fatal, global bool) {
	c.send(protocolErrorMessage(code, extra, identifier, fatal, global), nil)
}

// serve runs the connection until the client goes away or the server closes.
func (c *conn) serve() {
	defer func() {
		c.cancel(errConnClosed)
		c.nc.Close()
		c.wg.Wait()
		c.dropDDA()
	}()
	log := c.srv.log
	c.nc.SetReadDeadline(time.Now().Add(c.srv.cfg.FirstMessageTimeout))
	m, err := c.r.ReadMessage()
	if err != nil && (m == nil || isFatal(err)) {
		c.readFailed(m, err)
		return
	}
	if m.Name != "ClientHello" {
		c.protocolError(CodeClientHelloMustBeFirst, "the first message must be ClientHello, not "+truncate(m.Name, 64), m.Value("Identifier"), true, false)
		return
	}
	if err != nil { // a ClientHello with a bad line: answer it anyway, the name is optional
		log.Debug("fcp: ClientHello with a bad line", "err", private.Error{Err: err})
	}
	if c.r.Pending() > 0 && c.r.Skip() != nil {
		return
	}
	c.mu.Lock()
	c.name = m.Value("Name")
	c.mu.Unlock()
	if c.send(c.srv.nodeHello(c.id), nil) != nil {
		return
	}
	for {
		c.armIdle()
		m, err := c.r.ReadMessage()
		var pe *ParseError
		switch {
		case err == nil:
		case errors.As(err, &pe) && !pe.Fatal:
			c.protocolError(pe.Code, pe.Reason, m.Value("Identifier"), false, isTrue(m.Value("Global")))
			if c.r.Skip() != nil {
				return
			}
			continue
		default:
			c.readFailed(m, err)
			return
		}
		if !c.handle(m) {
			return
		}
		if c.r.Pending() > 0 && c.r.Skip() != nil {
			return
		}
	}
}

func isFatal(err error) bool {
	var pe *ParseError
	return errors.As(err, &pe) && pe.Fatal
}

// readFailed ends a connection whose stream broke: EOF or a reset is a normal end (Freenet's
// clients never say goodbye); a fatal parse error is answered first, with the Identifier of the
// message if it was read.
func (c *conn) readFailed(m *Message, err error) {
	var pe *ParseError
	var ne net.Error
	switch {
	case errors.Is(err, ErrHTTPRequest):
		// A web page's request: an answer it cannot read (no CORS) that names nothing.
		c.wmu.Lock()
		io.WriteString(c.w, refusedHTTP)
		c.w.Flush()
		c.wmu.Unlock()
		c.srv.log.Debug("fcp: refused an HTTP request")
		return
	case errors.As(err, &ne) && ne.Timeout():
		c.srv.log.Debug("fcp: connection closed: nothing arrived in time")
		return
	}
	if errors.As(err, &pe) {
		var id string
		if m != nil {
			id = m.Value("Identifier")
		}
		c.protocolError(pe.Code, pe.Reason, id, true, false)
		return
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		c.srv.log.Debug("fcp: connection ended", "err", private.Error{Err: err})
	}
}

// refusedHTTP answers an HTTP request sent to the client protocol's port.
const refusedHTTP = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

// handle acts on one message; false ends the connection.
func (c *conn) handle(m *Message) bool {
	id := m.Value("Identifier")
	switch m.Name {
	case "ClientHello":
		c.protocolError(CodeNoLateClientHello, "", id, false, false)
	case "GenerateSSK":
		c.generateSSK(m)
	case "ClientPut", "ClientPutComplexDir", "ClientPutDiskDir", "ClientGet":
		c.clientRequest(m)
	case "WatchGlobal":
		enabled, err := boolField(m, "Enabled", true)
		if err != nil {
			c.fieldError(m, err)
			break
		}
		c.watchGlobal.Store(enabled)
	case "ListPersistentRequests":
		c.srv.queue.list(c, id)
	case "GetRequestStatus":
		c.requestStatus(m)
	case "RemovePersistentRequest", "RemoveRequest":
		c.removeRequest(m)
	case "ModifyPersistentRequest":
		c.modifyRequest(m)
	case "SubscribeUSK":
		c.subscribeUSK(m)
	case "UnsubscribeUSK":
		c.unsubscribeUSK(m)
	case "TestDDARequest":
		c.testDDARequest(m)
	case "TestDDAResponse":
		c.testDDAResponse(m)
	case "Disconnect":
		return false
	case "Void":
	default:
		if isAdminMessage(m.Name) {
			return c.adminMessage(m)
		}
		c.protocolError(CodeInvalidMessage, "unknown message "+truncate(m.Name, 64), id, false, isTrue(m.Value("Global")))
	}
	return true
}

// fieldError answers a request whose fields do not parse.
func (c *conn) fieldError(m *Message, err error) {
	var fe *fieldError
	if !errors.As(err, &fe) {
		fe = &fieldError{code: CodeInternal, extra: err.Error()}
	}
	c.protocolError(fe.code, fe.extra, m.Value("Identifier"), false, isTrue(m.Value("Global")))
}
