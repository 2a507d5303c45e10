package fcp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Framing limits (spec §16.1). They bound what one message can make the parser hold before
// anything is allocated for its data.
const (
	MaxHeaderLine   = 128     // bytes of the message-name line, without its '\n'
	MaxFieldLine    = 4096    // bytes of one Key=Value line, without its '\n'
	MaxFields       = 8192    // Key=Value lines in one message
	MaxMessageBytes = 1 << 20 // bytes of all field lines of one message together
	// MaxBlankLines is how many empty lines may come before a message name.
	MaxBlankLines = 64
)

// Field is one Key=Value line of a message.
type Field struct {
	Key, Value string
}

// Message is one FCP message without its data. Fields keep their order on the wire; a key may
// in principle repeat, and Get then sees the last one, as Freenet's node does.
//
// A message that carries data has HasData set: on the wire it ends with the line "Data"
// instead of "EndMessage", its fields include DataLength=n, and exactly n raw bytes follow.
// Those bytes are not part of Message; Reader.Data reads them.
type Message struct {
	Name    string
	Fields  []Field
	HasData bool
}

// NewMessage starts a message with the given name and fields given as key, value pairs.
func NewMessage(name string, kv ...string) *Message {
	if len(kv)%2 != 0 {
		panic("fcp: NewMessage needs key, value pairs")
	}
	m := &Message{Name: name, Fields: make([]Field, 0, len(kv)/2+4)}
	for i := 0; i < len(kv); i += 2 {
		m.Fields = append(m.Fields, Field{kv[i], kv[i+1]})
	}
	return m
}

// Get returns the value of key and whether it is present.
func (m *Message) Get(key string) (string, bool) {
	for i := len(m.Fields) - 1; i >= 0; i-- {
		if m.Fields[i].Key == key {
			return m.Fields[i].Value, true
		}
	}
	return "", false
}

// Value returns the value of key, or "" when it is absent.
func (m *Message) Value(key string) string {
	v, _ := m.Get(key)
	return v
}

// Set appends key=value. It does not replace an earlier field of the same key.
func (m *Message) Set(key, value string) *Message {
	m.Fields = append(m.Fields, Field{key, value})
	return m
}

// SetInt appends key=n in decimal.
func (m *Message) SetInt(key string, n int64) *Message {
	return m.Set(key, strconv.FormatInt(n, 10))
}

// SetBool appends key=true or key=false, lower case as Freenet's node writes them.
func (m *Message) SetBool(key string, b bool) *Message {
	return m.Set(key, strconv.FormatBool(b))
}

// ErrFormat is returned when a message cannot be written because a name, key or value would
// break the framing (a newline, a '=' in a key, an empty name).
var ErrFormat = errors.New("fcp: message cannot be framed")

// Append appends the wire form of m to b. It checks that every part keeps the framing intact
// and that a message with data has a DataLength field.
func (m *Message) Append(b []byte) ([]byte, error) {
	if err := m.check(); err != nil {
		return b, err
	}
	b = append(b, m.Name...)
	b = append(b, '\n')
	for _, f := range m.Fields {
		b = append(b, f.Key...)
		b = append(b, '=')
		b = append(b, f.Value...)
		b = append(b, '\n')
	}
	if m.HasData {
		return append(b, "Data\n"...), nil
	}
	return append(b, "EndMessage\n"...), nil
}

func (m *Message) check() error {
	if m.Name == "" || len(m.Name) > MaxHeaderLine || strings.ContainsRune(m.Name, '\n') {
		return fmt.Errorf("%w: message name %q", ErrFormat, m.Name)
	}
	if len(m.Fields) > MaxFields {
		return fmt.Errorf("%w: %d fields", ErrFormat, len(m.Fields))
	}
	total := 0
	for _, f := range m.Fields {
		// A key that starts with "End" would read as the end marker.
		if f.Key == "" || strings.ContainsAny(f.Key, "=\n") || strings.HasPrefix(f.Key, "End") ||
			strings.ContainsRune(f.Value, '\n') {
			return fmt.Errorf("%w: field %q", ErrFormat, f.Key)
		}
		n := len(f.Key) + 1 + len(f.Value)
		if n > MaxFieldLine {
			return fmt.Errorf("%w: field %q is %d bytes long", ErrFormat, f.Key, n)
		}
		total += n
	}
	if total > MaxMessageBytes {
		return fmt.Errorf("%w: fields total %d bytes", ErrFormat, total)
	}
	if m.HasData {
		if _, err := m.dataLength(); err != nil {
			return fmt.Errorf("%w: %v", ErrFormat, err)
		}
	}
	return nil
}

// dataLength parses the DataLength field of a message with data.
func (m *Message) dataLength() (int64, error) {
	s, ok := m.Get("DataLength")
	if !ok {
		return 0, errors.New("a message that ends in Data needs a DataLength field")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("DataLength %q is not a byte count", s)
	}
	return n, nil
}

// String is the wire form for logs and test failures, or a note if it cannot be framed.
func (m *Message) String() string {
	b, err := m.Append(nil)
	if err != nil {
		return fmt.Sprintf("<%s: %v>", m.Name, err)
	}
	return string(b)
}

// ErrHTTPRequest: the peer sent an HTTP request line ("GET / HTTP/1.1") where a message name
// belongs. A web page's fetch, image or WebSocket aimed at the client protocol's port does
// this; the server refuses it at once instead of waiting for an end marker that never comes.
var ErrHTTPRequest = errors.New("fcp: an HTTP request, not a client-protocol message")

// looksLikeHTTP reports whether a message-name line is an HTTP request line: a method, a
// space, a target, a space and HTTP/ with a version (RFC 9112 §3). No FCP message name has a
// space in it.
func looksLikeHTTP(line []byte) bool {
	line = bytes.TrimSuffix(line, []byte("\r"))
	method, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok || len(method) == 0 {
		return false
	}
	for _, b := range method {
		if b < 'A' || b > 'Z' {
			return false
		}
	}
	i := bytes.LastIndexByte(rest, ' ')
	return i > 0 && bytes.HasPrefix(rest[i+1:], []byte("HTTP/"))
}

// ParseError is a message the peer sent that breaks the protocol. Code is the ProtocolError
// code to answer with. Fatal means the framing is lost (or the limits were broken) and the
// connection must close; a message that was framed correctly but has a bad line is not fatal,
// and Reader.ReadMessage returns it along with the error so that its Identifier can be echoed.
type ParseError struct {
	Code   int
	Reason string
	Fatal  bool
}

func (e *ParseError) Error() string { return "fcp: " + e.Reason }

// Reader reads messages from a connection, within the framing limits.
type Reader struct {
	br            *bufio.Reader
	maxDataLength int64
	pending       int64 // data bytes of the last message not yet read
}

// NewReader reads messages from r. A message whose DataLength exceeds maxDataLength is a fatal
// ParseError; maxDataLength ≤ 0 means no data may be sent at all.
func NewReader(r io.Reader, maxDataLength int64) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 2*MaxFieldLine), maxDataLength: maxDataLength}
}

// errLineTooLong is internal: readLine found a line longer than its limit.
var errLineTooLong = errors.New("line too long")

// readLine returns one line without its '\n'. The slice is valid until the next read.
func (r *Reader) readLine(limit int) ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	switch {
	case err == nil:
		line = line[:len(line)-1]
		if len(line) > limit {
			return nil, errLineTooLong
		}
		return line, nil
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, errLineTooLong
	case errors.Is(err, io.EOF) && len(line) > 0:
		return nil, io.ErrUnexpectedEOF
	default:
		return nil, err
	}
}

// ReadMessage reads the next message. The data of the previous message must have been read
// (or skipped with Skip) first.
//
// At a clean end of the stream, before any byte of a message, it returns io.EOF. A fatal
// *ParseError means the stream cannot be resynchronised; it comes with the message as far as it
// was read (nil if not even its name was), so that its Identifier can be echoed. A non-fatal
// *ParseError comes with the whole message; its data, if any, still follows and must be
// skipped.
func (r *Reader) ReadMessage() (*Message, error) {
	if r.pending != 0 {
		panic("fcp: ReadMessage called before the previous message's data was read")
	}
	var name []byte
	for blank := 0; ; blank++ {
		line, err := r.readLine(MaxHeaderLine)
		if err == errLineTooLong {
			return nil, &ParseError{Code: CodeMessageParse, Reason: fmt.Sprintf("message name line longer than %d bytes", MaxHeaderLine), Fatal: true}
		}
		if err != nil {
			return nil, err // io.EOF at a clean end
		}
		if len(line) > 0 {
			if looksLikeHTTP(line) {
				return nil, ErrHTTPRequest
			}
			name = line
			break
		}
		if blank >= MaxBlankLines {
			return nil, &ParseError{Code: CodeMessageParse, Reason: "too many blank lines", Fatal: true}
		}
	}
	m := &Message{Name: string(name), Fields: make([]Field, 0, 16)}
	var soft *ParseError // the first non-fatal problem
	if !utf8.Valid(name) {
		soft = &ParseError{Code: CodeMessageParse, Reason: "message name is not UTF-8"}
	}
	total := 0
	for {
		line, err := r.readLine(MaxFieldLine)
		if err == errLineTooLong {
			return m, &ParseError{Code: CodeMessageParse, Reason: fmt.Sprintf("%s: field line longer than %d bytes", m.Name, MaxFieldLine), Fatal: true}
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("fcp: read %s: %w", m.Name, err)
		}
		if bytes.HasPrefix(line, []byte("End")) {
			break
		}
		if string(line) == "Data" {
			m.HasData = true
			break
		}
		if len(m.Fields) == MaxFields {
			return m, &ParseError{Code: CodeMessageParse, Reason: fmt.Sprintf("%s: more than %d fields", m.Name, MaxFields), Fatal: true}
		}
		if total += len(line); total > MaxMessageBytes {
			return m, &ParseError{Code: CodeMessageParse, Reason: fmt.Sprintf("%s: fields longer than %d bytes together", m.Name, MaxMessageBytes), Fatal: true}
		}
		key, value, ok := bytes.Cut(line, []byte("="))
		switch {
		case !ok || len(key) == 0:
			if soft == nil {
				soft = &ParseError{Code: CodeMessageParse, Reason: fmt.Sprintf("%s: line %q is not Key=Value", m.Name, truncate(string(line), 64))}
			}
			continue
		case !utf8.Valid(line):
			if soft == nil {
				soft = &ParseError{Code: CodeMessageParse, Reason: fmt.Sprintf("%s: field %q is not UTF-8", m.Name, truncate(string(key), 64))}
			}
			continue
		}
		m.Fields = append(m.Fields, Field{string(key), string(value)})
	}
	if m.HasData {
		n, err := m.dataLength()
		if err != nil {
			return m, &ParseError{Code: CodeMessageParse, Reason: m.Name + ": " + err.Error(), Fatal: true}
		}
		if n > r.maxDataLength {
			return m, &ParseError{Code: CodeInvalidField, Reason: fmt.Sprintf("%s: DataLength %d is over this node's limit of %d bytes", m.Name, n, max(r.maxDataLength, 0)), Fatal: true}
		}
		r.pending = n
	}
	if soft != nil {
		return m, soft
	}
	return m, nil
}

// Data returns a reader of the data that follows the last message read. It must be read to
// its end (or the rest passed to Skip) before the next ReadMessage.
func (r *Reader) Data() io.Reader {
	return &dataReader{r: r}
}

// Skip discards whatever is left of the last message's data.
func (r *Reader) Skip() error {
	n, err := io.CopyN(io.Discard, r.br, r.pending)
	r.pending -= n
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// Pending is the number of data bytes of the last message not yet read.
func (r *Reader) Pending() int64 { return r.pending }

type dataReader struct{ r *Reader }

func (d *dataReader) Read(p []byte) (int, error) {
	r := d.r
	if r.pending == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.pending {
		p = p[:r.pending]
	}
	n, err := r.br.Read(p)
	r.pending -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// WriteMessage writes m and, if it carries data, exactly the DataLength bytes read from data.
// It is not safe for concurrent use; callers serialise writes to one connection.
func WriteMessage(w io.Writer, m *Message, data io.Reader) error {
	b, err := m.Append(make([]byte, 0, 256))
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	if !m.HasData {
		return nil
	}
	n, _ := m.dataLength()
	if data == nil {
		data = bytes.NewReader(nil)
	}
	copied, err := io.CopyN(w, data, n)
	if err == io.EOF {
		return fmt.Errorf("fcp: %s: data ended after %d of %d bytes", m.Name, copied, n)
	}
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
