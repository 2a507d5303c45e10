package fcp

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"lethe/crypto"
)

// Verbosity bits (spec §16.5), Freenet's values. Bit 1 also covers SimpleProgress of inserts.
const (
	verboseProgress       = 1
	verboseExpectedMIME   = 32
	verboseExpectedLength = 64
)

type kind uint8

const (
	kindPut kind = iota
	kindPutDir
	kindGet
)

// owner names a persistent queue: the global one, or that of one client name.
type owner struct {
	global bool
	name   string // client name from ClientHello, for a non-global queue
}

// request is one ClientPut, ClientPutComplexDir or ClientGet the server is running or has
// finished.
type request struct {
	srv    *Server
	kind   kind
	common commonFields
	owner  owner
	msg    *Message // as received, without its data: for Persistent* and for resuming; guarded by mu once queued
	// run does the work and reports through finishPut or finishGet. The parser sets it.
	run func(ctx context.Context, r *request)

	returnType     string      // ClientGet: direct, none or disk
	diskPaths      []string    // UploadFrom=disk, ClientPutDiskDir: what the node reads (spec §16.14)
	diskTarget     string      // ReturnType=disk: the file the node writes (spec §16.14)
	diskRoot       string      // ReturnType=disk: the directory proved writable that holds it
	targetFilename string      // ClientPut of a CHK: appended to the URI
	body           *bodyReader // ClientPut, Persistence=connection: the data, streamed
	startup        time.Time   // when the request was accepted

	mu         sync.Mutex              // guards the fields below
	cancel     context.CancelCauseFunc // nil until the request runs
	conn       *conn                   // the connection that sent it; messages go there while it is open
	sentURI    bool
	sentMIME   bool
	sentLength bool
	generated  string // the URI of URIGenerated, once sent
	done       bool
	removed    bool // taken off its queue by the client
	completion time.Time
	terminal   []*Message // PutSuccessful, PutFailed, DataFound or GetFailed, once done
	input      *spool     // the data of a persistent insert, until it is done
	result     *spool     // the data of a finished persistent direct fetch, for GetRequestStatus
}

func (r *request) persistent() bool { return r.common.persistence != persistConnection }

// durable reports whether the request is written to the StateDir and survives a restart:
// Persistence=forever is; reboot lives on the queue only as long as the server.
func (r *request) durable() bool { return r.common.persistence == persistForever }

// spoolDir is where the request's data is kept: the StateDir for a durable request, else
// memory or a temporary file.
func (r *request) spoolDir() string {
	if r.durable() {
		return r.srv.queue.dir
	}
	return ""
}

func (r *request) name() string { return r.common.identifier }

// begin derives the request's context from parent and records how to cancel it.
func (r *request) begin(parent context.Context) (context.Context, context.CancelCauseFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	r.mu.Lock()
	r.cancel = cancel
	r.mu.Unlock()
	return ctx, cancel
}

// running reports whether the request was started.
func (r *request) running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cancel != nil
}

// stop cancels the request if it runs.
func (r *request) stop(cause error) {
	r.mu.Lock()
	cancel := r.cancel
	r.mu.Unlock()
	if cancel != nil {
		cancel(cause)
	}
}

// targets are the connections a message of this request goes to: the one that sent it while
// it is open, and for a persistent request every connection watching its queue.
func (r *request) targets() []*conn {
	r.mu.Lock()
	c := r.conn
	r.mu.Unlock()
	var out []*conn
	if c != nil && c.ctx.Err() == nil {
		out = append(out, c)
	}
	if r.persistent() {
		for _, w := range r.srv.watchers(r.owner) {
			if w != c {
				out = append(out, w)
			}
		}
	}
	return out
}

func (r *request) emit(msgs ...*Message) {
	for _, c := range r.targets() {
		c.sendAll(msgs...)
	}
}

// header starts a message of this request with Identifier and Global.
func (r *request) header(name string) *Message {
	return NewMessage(name, "Identifier", r.common.identifier, "Global", strconv.FormatBool(r.common.global))
}

func (r *request) wants(bit int64) bool { return r.common.verbosity&bit != 0 }

// progress turns a Backend's report into the messages the request's Verbosity asks for.
func (r *request) progress(p Progress) {
	var msgs []*Message
	r.mu.Lock()
	if r.done {
		r.mu.Unlock()
		return
	}
	if r.kind != kindGet && p.URI.Type != 0 && !r.sentURI {
		r.sentURI = true
		r.generated = r.resultURI(p.URI)
		msgs = append(msgs, r.header("URIGenerated").Set("URI", r.generated))
	}
	if r.kind == kindGet && p.ContentType != "" && !r.sentMIME && r.wants(verboseExpectedMIME) {
		r.sentMIME = true
		msgs = append(msgs, r.header("ExpectedMIME").Set("Metadata.ContentType", oneLine(p.ContentType)))
	}
	if r.kind == kindGet && p.DataLength > 0 && !r.sentLength && r.wants(verboseExpectedLength) {
		r.sentLength = true
		msgs = append(msgs, r.header("ExpectedDataLength").SetInt("DataLength", p.DataLength))
	}
	r.mu.Unlock()
	if r.wants(verboseProgress) && (p.Total > 0 || p.Succeeded > 0 || p.Failed > 0 || p.FatallyFailed > 0) {
		msgs = append(msgs, r.header("SimpleProgress").
			SetInt("Total", int64(p.Total)).
			SetInt("Required", int64(p.Required)).
			SetInt("Failed", int64(p.Failed)).
			SetInt("FatallyFailed", int64(p.FatallyFailed)).
			SetInt("Succeeded", int64(p.Succeeded)).
			SetBool("FinalizedTotal", p.FinalizedTotal))
	}
	if len(msgs) > 0 {
		r.emit(msgs...)
	}
}

// resultURI is the text of the request URI an insert reports: the Backend's URI, plus
// /TargetFilename for a CHK that was given one.
func (r *request) resultURI(u crypto.RequestURI) string {
	if r.targetFilename != "" && u.Type == crypto.CHK && u.Path == "" {
		u = u.WithPath("/" + r.targetFilename)
	}
	return u.String()
}

// silent reports whether a request that ended with err should say nothing: it was cancelled
// because its connection went, the client removed it, or the server is closing (a persistent
// request then resumes at the next start).
func silent(ctx context.Context, err error) bool {
	cause := context.Cause(ctx)
	if errors.Is(cause, errRemoved) {
		return true
	}
	return err != nil && (errors.Is(cause, errConnClosed) || errors.Is(cause, errServerClosing))
}

// finishPut reports the end of an insert.
func (r *request) finishPut(ctx context.Context, uri crypto.RequestURI, err error) {
	if silent(ctx, err) {
		return
	}
	var msgs []*Message
	r.mu.Lock()
	r.completion = r.srv.cfg.Now()
	if err == nil {
		s := r.resultURI(uri)
		if !r.sentURI || r.generated != s {
			r.sentURI, r.generated = true, s
			msgs = append(msgs, r.header("URIGenerated").Set("URI", s))
		}
		r.terminal = []*Message{r.header("PutSuccessful").
			Set("URI", s).
			Set("StartupTime", millis(r.startup)).
			Set("CompletionTime", millis(r.completion))}
	} else {
		f := failureOf(opPut, err)
		r.terminal = []*Message{r.failed("PutFailed", f)}
	}
	msgs = append(msgs, r.terminal...)
	r.mu.Unlock()
	r.end(msgs, nil)
}

// finishGet reports the end of a fetch; data is the content when it was found.
func (r *request) finishGet(ctx context.Context, found Found, data *spool, err error) {
	if silent(ctx, err) {
		data.remove()
		return
	}
	var msgs []*Message
	r.mu.Lock()
	if r.removed {
		r.mu.Unlock()
		data.remove()
		return
	}
	r.completion = r.srv.cfg.Now()
	if err == nil {
		r.terminal = []*Message{r.header("DataFound").
			Set("Metadata.ContentType", contentTypeOrDefault(found.ContentType)).
			SetInt("DataLength", found.DataLength).
			Set("StartupTime", millis(r.startup)).
			Set("CompletionTime", millis(r.completion))}
	} else {
		f := failureOf(opGet, err)
		m := r.failed("GetFailed", f)
		if f.Code == GetCodeTooBig && found.DataLength > 0 {
			m.SetInt("ExpectedDataLength", found.DataLength)
			if found.ContentType != "" {
				m.Set("ExpectedMetadata.ContentType", oneLine(found.ContentType))
			}
		}
		r.terminal = []*Message{m}
	}
	msgs = append(msgs, r.terminal...)
	var send *spool
	if err == nil && r.returnType == returnDirect {
		if r.persistent() {
			// As Freenet's node does: a persistent fetch reports DataFound, and the client
			// asks for the data with GetRequestStatus.
			r.result = data
		} else {
			send = data
		}
	} else {
		data.remove()
	}
	r.mu.Unlock()
	r.end(msgs, send)
}

// failed builds a GetFailed or PutFailed.
func (r *request) failed(name string, f failure) *Message {
	m := r.header(name).
		Set("Code", strconv.Itoa(f.Code)).
		Set("CodeDescription", f.Description).
		Set("ShortCodeDescription", f.Short).
		SetBool("Fatal", f.Fatal)
	if f.Extra != "" {
		m.Set("ExtraDescription", oneLine(f.Extra))
	}
	if f.RedirectURI != "" {
		m.Set("RedirectURI", f.RedirectURI)
	}
	return m
}

// allData is the AllData message that carries a fetched file.
func (r *request) allData(sp *spool) *Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := NewMessage("AllData").
		SetInt("DataLength", sp.size).
		Set("Identifier", r.common.identifier).
		SetBool("Global", r.common.global).
		Set("StartupTime", millis(r.startup)).
		Set("CompletionTime", millis(r.completion))
	if ct, ok := r.terminal[0].Get("Metadata.ContentType"); ok {
		m.Set("Metadata.ContentType", ct)
	}
	m.HasData = true
	return m
}

// end marks the request done, records it, and sends its last messages: a connection
// request leaves its connection's table first, so that the client may reuse its Identifier
// as soon as it reads the reply (Freenet's clients do, to follow a redirect).
func (r *request) end(msgs []*Message, data *spool) {
	r.mu.Lock()
	r.done = true
	c := r.conn
	input := r.input
	r.input = nil
	r.mu.Unlock()
	if r.persistent() {
		r.srv.queue.save() // before the input goes, so that a crash in between loses nothing
		input.remove()
		r.emit(msgs...)
		if c != nil {
			c.armIdle() // its connection may now wait for nothing
		}
		return
	}
	input.remove()
	c.mu.Lock()
	if c.reqs[r.name()] == r {
		delete(c.reqs, r.name())
	}
	c.mu.Unlock()
	c.armIdle()
	if data == nil {
		c.sendAll(msgs...)
		return
	}
	// DataFound and AllData go out together.
	c.wmu.Lock()
	for _, m := range msgs {
		if c.writeLocked(m, nil, false) != nil {
			break
		}
	}
	c.writeLocked(r.allData(data), data.reader(), true)
	c.wmu.Unlock()
	data.remove()
}

func millis(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func contentTypeOrDefault(ct string) string {
	if ct == "" {
		return "application/octet-stream"
	}
	return oneLine(ct)
}

// oneLine makes text from a Backend fit in a field: line breaks become spaces.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

// persistentMessage describes a persistent request for ListPersistentRequests and
// GetRequestStatus: PersistentPut, PersistentPutDir or PersistentGet, with the request's own
// fields and its state.
func (r *request) persistentMessage() *Message {
	name := map[kind]string{kindPut: "PersistentPut", kindPutDir: "PersistentPutDir", kindGet: "PersistentGet"}[r.kind]
	m := NewMessage(name)
	r.mu.Lock()
	msg := r.msg // replaced whole by ModifyPersistentRequest
	r.mu.Unlock()
	seen := map[string]bool{"Persistence": true, "Global": true, "Identifier": true, "Started": true, "PersistenceType": true, "DataLength": r.kind == kindPut}
	for i := len(msg.Fields) - 1; i >= 0; i-- { // last value wins, as in Get
		f := msg.Fields[i]
		if !seen[f.Key] {
			seen[f.Key] = true
			m.Fields = append(m.Fields, f)
		}
	}
	for i, j := 0, len(m.Fields)-1; i < j; i, j = i+1, j-1 {
		m.Fields[i], m.Fields[j] = m.Fields[j], m.Fields[i]
	}
	if r.kind == kindGet {
		if _, ok := msg.Get("ReturnType"); !ok {
			m.Set("ReturnType", r.returnType)
		}
	}
	return m.Set("Identifier", r.common.identifier).
		SetBool("Global", r.common.global).
		Set("PersistenceType", r.common.persistence).
		SetBool("Started", true)
}

// status is what GetRequestStatus and ListPersistentRequests send for a request: its
// Persistent… message (unless onlyResult), URIGenerated if known, and its end if it has
// ended. With withData, a finished direct fetch's AllData follows.
func (r *request) status(onlyResult bool) []*Message {
	var msgs []*Message
	if !onlyResult {
		msgs = append(msgs, r.persistentMessage())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.generated != "" && r.kind != kindGet {
		msgs = append(msgs, r.header("URIGenerated").Set("URI", r.generated))
	}
	return append(msgs, r.terminal...)
}
