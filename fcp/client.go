package fcp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"lethe/crypto"
	"lethe/session"
)

// MaxRedirects bounds how many GetFailed redirects (Code 27) Client.Get follows.
const MaxRedirects = 8

// ErrClientClosed is returned by Client methods once the connection has ended.
var ErrClientClosed = errors.New("fcp: client connection closed")

// NodeHello is what a node says about itself when a client connects.
type NodeHello struct {
	FCPVersion           string
	Node                 string
	Version              string
	Build                int
	Revision             string
	Testnet              bool
	CompressionCodecs    string
	ConnectionIdentifier string
	Fields               *Message // the whole message
}

// Client speaks the client protocol to a node: Lethe's command line uses it. One Client is
// one connection; its methods may be called from many goroutines at once, and each request
// runs under its own Identifier. Requests use Persistence=connection: they end when the
// Client is closed, and a cancelled ctx removes the request from the node.
//
// Progress callbacks run on the goroutine that reads the connection: they must return quickly
// and must not call the Client.
type Client struct {
	nc   net.Conn
	r    *Reader
	done chan struct{} // closed when the read loop ends

	wmu sync.Mutex // guards w
	w   *bufio.Writer

	mu      sync.Mutex // guards calls, err, next, started
	calls   map[string]*call
	err     error
	next    uint64
	started bool
}

// call is one request waiting for its reply.
type call struct {
	progress func(Progress)
	sink     io.Writer // ClientGet's data goes here
	found    Found
	reply    chan callResult // buffered: the read loop never blocks on it
}

type callResult struct {
	msg   *Message
	found Found
	err   error
}

// Dial connects to a node's client-protocol port. Call Hello next.
func Dial(ctx context.Context, addr string) (*Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fcp: connect to node: %w", err)
	}
	return &Client{
		nc:    nc,
		r:     NewReader(nc, 1<<62),
		w:     bufio.NewWriterSize(nc, 64<<10),
		done:  make(chan struct{}),
		calls: map[string]*call{},
	}, nil
}

// Hello introduces the client under name and returns the node's NodeHello. It must come
// before any other request.
func (c *Client) Hello(ctx context.Context, name string) (NodeHello, error) {
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return NodeHello{}, errors.New("fcp: Hello was already sent")
	}
	c.started = true
	c.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := c.write(NewMessage("ClientHello", "Name", name, "ExpectedVersion", ProtocolVersion), nil); err != nil {
		return NodeHello{}, c.fail(err)
	}
	m, err := c.r.ReadMessage()
	if err == nil && m.HasData {
		err = errors.New("fcp: NodeHello with data")
	}
	if !stop() {
		err = ctx.Err()
	}
	if err != nil {
		return NodeHello{}, c.fail(fmt.Errorf("fcp: hello: %w", err))
	}
	c.nc.SetDeadline(time.Time{})
	if m.Name == "ProtocolError" {
		return NodeHello{}, c.fail(protocolErrorOf(m))
	}
	if m.Name != "NodeHello" {
		return NodeHello{}, c.fail(fmt.Errorf("fcp: the node answered ClientHello with %s", m.Name))
	}
	build, _ := strconv.Atoi(m.Value("Build"))
	hello := NodeHello{
		FCPVersion:           m.Value("FCPVersion"),
		Node:                 m.Value("Node"),
		Version:              m.Value("Version"),
		Build:                build,
		Revision:             m.Value("Revision"),
		Testnet:              isTrue(m.Value("Testnet")),
		CompressionCodecs:    m.Value("CompressionCodecs"),
		ConnectionIdentifier: m.Value("ConnectionIdentifier"),
		Fields:               m,
	}
	go c.readLoop()
	return hello, nil
}

// Close ends the connection; requests still running fail with ErrClientClosed.
func (c *Client) Close() error {
	err := c.nc.Close()
	c.mu.Lock()
	started := c.started
	c.mu.Unlock()
	if started {
		<-c.done
	}
	return err
}

// fail ends the client with err (before the read loop runs).
func (c *Client) fail(err error) error {
	c.nc.Close()
	close(c.done)
	return err
}

func (c *Client) write(m *Message, data io.Reader) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	err := WriteMessage(c.w, m, data)
	if err == nil {
		err = c.w.Flush()
	}
	return err
}

// GenerateSSK asks the node for a new SSK key pair: the insert URI (secret) and the request
// URI, both bare ("SSK@…/") so that a document or site name can be appended.
func (c *Client) GenerateSSK(ctx context.Context) (crypto.InsertURI, crypto.RequestURI, error) {
	res, err := c.do(ctx, NewMessage("GenerateSSK"), nil, &call{})
	if err != nil {
		return crypto.InsertURI{}, crypto.RequestURI{}, err
	}
	insert, err := crypto.ParseInsertURI(res.msg.Value("InsertURI"))
	if err != nil {
		return crypto.InsertURI{}, crypto.RequestURI{}, fmt.Errorf("fcp: SSKKeypair: %w", err)
	}
	request, err := crypto.ParseURI(res.msg.Value("RequestURI"))
	if err != nil {
		return crypto.InsertURI{}, crypto.RequestURI{}, fmt.Errorf("fcp: SSKKeypair: %w", err)
	}
	return insert, request, nil
}

// Put inserts one file and returns the URI to fetch it with. req.Data must yield exactly
// req.DataLength bytes, unless req.Filename names the file for the node to read itself
// (UploadFrom=disk, after TestDDARead allowed its directory). progress, if not nil, receives SimpleProgress reports and the URI as
// soon as the node knows it.
func (c *Client) Put(ctx context.Context, req PutRequest, progress func(Progress)) (crypto.RequestURI, error) {
	m := NewMessage("ClientPut", "URI", req.URI.String())
	if req.ContentType != "" {
		m.Set("Metadata.ContentType", req.ContentType)
	}
	if req.TargetFilename != "" {
		m.Set("TargetFilename", req.TargetFilename)
	}
	setPutOptions(m, req.GetCHKOnly, req.DontCompress, req.PriorityClass, req.MaxRetries, progress != nil)
	data := req.Data
	if req.Filename != "" {
		m.Set("UploadFrom", uploadDisk).Set("Filename", req.Filename)
		data = nil
	} else {
		m.Set("UploadFrom", uploadDirect).SetInt("DataLength", req.DataLength)
		m.HasData = true
	}
	res, err := c.do(ctx, m, data, &call{progress: progress})
	if err != nil {
		return crypto.RequestURI{}, err
	}
	return parseResultURI(res.msg)
}

// PutDir inserts a site: every entry with Data travels in the message, the others are
// redirects to their TargetURI. It returns the site's URI.
func (c *Client) PutDir(ctx context.Context, req PutDirRequest, progress func(Progress)) (crypto.RequestURI, error) {
	m := NewMessage("ClientPutComplexDir", "URI", req.URI.String())
	if req.DefaultName != "" {
		m.Set("DefaultName", req.DefaultName)
	}
	setPutOptions(m, req.GetCHKOnly, req.DontCompress, req.PriorityClass, req.MaxRetries, progress != nil)
	var parts []io.Reader
	var total int64
	for i, e := range req.Entries {
		p := "Files." + strconv.Itoa(i) + "."
		m.Set(p+"Name", e.Name)
		if e.ContentType != "" {
			m.Set(p+"Metadata.ContentType", e.ContentType)
		}
		if e.IsRedirect() {
			m.Set(p+"UploadFrom", uploadRedirect).Set(p+"TargetURI", e.TargetURI.String())
			continue
		}
		m.Set(p+"UploadFrom", uploadDirect).SetInt(p+"DataLength", e.Data.Size())
		parts = append(parts, io.NewSectionReader(e.Data, 0, e.Data.Size()))
		total += e.Data.Size()
	}
	if len(parts) > 0 {
		m.SetInt("DataLength", total)
		m.HasData = true
	}
	res, err := c.do(ctx, m, io.MultiReader(parts...), &call{progress: progress})
	if err != nil {
		return crypto.RequestURI{}, err
	}
	return parseResultURI(res.msg)
}

func setPutOptions(m *Message, chkOnly, dontCompress bool, priority, retries int, verbose bool) {
	m.SetBool("GetCHKOnly", chkOnly).
		SetBool("DontCompress", dontCompress).
		SetInt("PriorityClass", int64(priority)).
		SetInt("MaxRetries", int64(retries)).
		Set("Persistence", persistConnection).
		SetBool("Global", false)
	if verbose {
		m.SetInt("Verbosity", verboseProgress)
	} else {
		m.SetInt("Verbosity", 0)
	}
}

func parseResultURI(m *Message) (crypto.RequestURI, error) {
	u, err := crypto.ParseURI(m.Value("URI"))
	if err != nil {
		return crypto.RequestURI{}, fmt.Errorf("fcp: %s: %w", m.Name, err)
	}
	return u, nil
}

// Get fetches req.URI and writes the content to w (nil: fetch and verify, keep nothing). It
// follows up to MaxRedirects redirects to newer USK editions. progress, if not nil, receives
// SimpleProgress reports and the content's type and size as soon as they are known.
func (c *Client) Get(ctx context.Context, req GetRequest, w io.Writer, progress func(Progress)) (Found, error) {
	for range MaxRedirects + 1 {
		m := NewMessage("ClientGet", "URI", req.URI.String())
		if w == nil {
			m.Set("ReturnType", returnNone)
		} else {
			m.Set("ReturnType", returnDirect)
		}
		if req.MaxSize > 0 {
			m.SetInt("MaxSize", req.MaxSize)
		}
		m.SetBool("IgnoreDS", req.IgnoreDS).SetBool("DSOnly", req.DSOnly).
			SetInt("PriorityClass", int64(req.PriorityClass)).
			SetInt("MaxRetries", int64(req.MaxRetries)).
			Set("Persistence", persistConnection).
			SetBool("Global", false)
		if progress != nil {
			m.SetInt("Verbosity", verboseProgress|verboseExpectedMIME|verboseExpectedLength)
		} else {
			m.SetInt("Verbosity", 0)
		}
		res, err := c.do(ctx, m, nil, &call{progress: progress, sink: w})
		var redirect *RedirectError
		if errors.As(err, &redirect) {
			req.URI = redirect.URI
			continue
		}
		res.found.URI = req.URI
		return res.found, err
	}
	return Found{}, fmt.Errorf("fcp: more than %d redirects", MaxRedirects)
}

// do sends a request under a fresh Identifier and waits for its end.
func (c *Client) do(ctx context.Context, m *Message, data io.Reader, cl *call) (callResult, error) {
	cl.reply = make(chan callResult, 1)
	c.mu.Lock()
	if !c.started {
		c.mu.Unlock()
		return callResult{}, errors.New("fcp: call Hello first")
	}
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return callResult{}, err
	}
	c.next++
	id := "lethe-" + strconv.FormatUint(c.next, 10)
	c.calls[id] = cl
	c.mu.Unlock()
	m.Set("Identifier", id)
	if sid, ok := session.ID(ctx); ok && m.Value("Persistence") == persistConnection {
		// The request belongs to an operation of several (package session), such as the
		// nodes of one index search: the node runs them as one session (spec §16.5).
		m.Set("Session", strconv.FormatUint(sid, 16))
	}
	if err := c.write(m, data); err != nil {
		c.forget(id)
		c.nc.Close()
		return callResult{}, fmt.Errorf("fcp: send %s: %w", m.Name, err)
	}
	select {
	case res := <-cl.reply:
		return res, res.err
	case <-ctx.Done():
		if !c.forget(id) { // the answer is being read; it is there in a moment
			res := <-cl.reply
			return res, res.err
		}
		if m.Name != "GenerateSSK" && !strings.HasPrefix(m.Name, "TestDDA") { // requests that end
			c.write(NewMessage("RemovePersistentRequest", "Identifier", id, "Global", "false"), nil)
		}
		return callResult{}, ctx.Err()
	}
}

// forget drops a call; false if the read loop already answered it.
func (c *Client) forget(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.calls[id]
	delete(c.calls, id)
	return ok
}

// readLoop reads the node's messages and hands each to the call it belongs to.
func (c *Client) readLoop() {
	defer close(c.done)
	for {
		m, err := c.r.ReadMessage()
		var pe *ParseError
		switch {
		case err == nil:
			c.dispatch(m)
		case errors.As(err, &pe) && !pe.Fatal:
			// A message this client cannot read; whatever waits for it will hear of the
			// connection's end or its own context.
		case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
			c.shutdown(ErrClientClosed)
			return
		default:
			c.shutdown(err)
			return
		}
		if c.r.Pending() > 0 {
			if err := c.r.Skip(); err != nil {
				c.shutdown(err)
				return
			}
		}
	}
}

func (c *Client) shutdown(err error) {
	c.nc.Close()
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	calls := c.calls
	c.calls = map[string]*call{}
	c.mu.Unlock()
	for _, cl := range calls {
		cl.reply <- callResult{err: err}
	}
}

// dispatch acts on one message; data it leaves unread is skipped by the read loop.
func (c *Client) dispatch(m *Message) {
	id := m.Value("Identifier")
	c.mu.Lock()
	cl := c.calls[id]
	c.mu.Unlock()
	if cl == nil {
		if m.Name == "ProtocolError" && isTrue(m.Value("Fatal")) {
			c.shutdown(protocolErrorOf(m))
		}
		return
	}
	end := func(res callResult) {
		if c.forget(id) {
			cl.reply <- res
		}
	}
	switch m.Name {
	case "SSKKeypair", "PutSuccessful", "TestDDAReply", "TestDDAComplete":
		end(callResult{msg: m})
	case "URIGenerated":
		if u, err := crypto.ParseURI(m.Value("URI")); err == nil && cl.progress != nil {
			cl.progress(Progress{URI: u})
		}
	case "SimpleProgress":
		if cl.progress != nil {
			cl.progress(simpleProgressOf(m))
		}
	case "ExpectedMIME":
		if cl.progress != nil {
			cl.progress(Progress{ContentType: m.Value("Metadata.ContentType")})
		}
	case "ExpectedDataLength":
		if n, err := strconv.ParseInt(m.Value("DataLength"), 10, 64); err == nil && cl.progress != nil {
			cl.progress(Progress{DataLength: n})
		}
	case "DataFound":
		n, _ := strconv.ParseInt(m.Value("DataLength"), 10, 64)
		cl.found = Found{ContentType: m.Value("Metadata.ContentType"), DataLength: n}
		if cl.sink == nil {
			end(callResult{msg: m, found: cl.found})
		}
	case "AllData":
		if !m.HasData || cl.sink == nil {
			end(callResult{err: errors.New("fcp: unexpected AllData")})
			return
		}
		// Taken off the table before the copy: a caller whose ctx ends meanwhile waits for
		// the copy, so that nothing is written to its sink after Get returns.
		if !c.forget(id) {
			return
		}
		if _, err := io.Copy(cl.sink, c.r.Data()); err != nil {
			cl.reply <- callResult{err: fmt.Errorf("fcp: fetched data: %w", err)}
			return
		}
		cl.reply <- callResult{msg: m, found: cl.found}
	case "GetFailed":
		end(callResult{msg: m, err: requestErrorOf(opGet, m)})
	case "PutFailed":
		end(callResult{msg: m, err: requestErrorOf(opPut, m)})
	case "ProtocolError":
		end(callResult{msg: m, err: protocolErrorOf(m)})
	case "IdentifierCollision":
		end(callResult{msg: m, err: fmt.Errorf("fcp: %s: %w", id, ErrIdentifierCollision)})
	}
}

func simpleProgressOf(m *Message) Progress {
	n := func(k string) int { v, _ := strconv.Atoi(m.Value(k)); return v }
	return Progress{
		Total: n("Total"), Required: n("Required"), Failed: n("Failed"),
		FatallyFailed: n("FatallyFailed"), Succeeded: n("Succeeded"),
		FinalizedTotal: isTrue(m.Value("FinalizedTotal")),
	}
}

func requestErrorOf(o op, m *Message) error {
	code, _ := strconv.Atoi(m.Value("Code"))
	e := &RequestError{
		Message:     m.Name,
		Code:        code,
		Description: m.Value("CodeDescription"),
		Short:       m.Value("ShortCodeDescription"),
		Extra:       m.Value("ExtraDescription"),
		Fatal:       isTrue(m.Value("Fatal")),
		sentinel:    errorOf(o, code),
	}
	if o == opGet && code == GetCodePermanentRedir {
		if u, err := crypto.ParseURI(m.Value("RedirectURI")); err == nil {
			e.sentinel = &RedirectError{URI: u}
		}
	}
	return e
}

func protocolErrorOf(m *Message) error {
	code, _ := strconv.Atoi(m.Value("Code"))
	return &ProtocolError{
		Code:        code,
		Description: m.Value("CodeDescription"),
		Extra:       m.Value("ExtraDescription"),
		Fatal:       isTrue(m.Value("Fatal")),
		Identifier:  m.Value("Identifier"),
	}
}
