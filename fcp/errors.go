package fcp

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"lethe/crypto"
)

// ProtocolError codes (spec §16.7), the numbers Freenet's node uses.
const (
	CodeClientHelloMustBeFirst = 1
	CodeNoLateClientHello      = 2
	CodeMessageParse           = 3
	CodeURIParse               = 4
	CodeMissingField           = 5
	CodeNumberParse            = 6
	CodeInvalidMessage         = 7
	CodeInvalidField           = 8
	CodeFileNotFound           = 9
	CodeNoSuchIdentifier       = 15
	CodeNotSupported           = 16
	CodeInternal               = 17
	CodeDiskAccessDenied       = 25
	CodeTooManyFiles           = 34
	CodeBadMIMEType            = 35
)

// protocolDescriptions are the CodeDescription texts of ProtocolError.
var protocolDescriptions = map[int]string{
	CodeClientHelloMustBeFirst: "ClientHello must be first message",
	CodeNoLateClientHello:      "No late ClientHello",
	CodeMessageParse:           "Message parse error",
	CodeURIParse:               "URI parse error",
	CodeMissingField:           "Missing field",
	CodeNumberParse:            "Error parsing a numeric field",
	CodeInvalidMessage:         "Don't know what to do with message",
	CodeInvalidField:           "Invalid field value",
	CodeFileNotFound:           "File not found, not a file or not readable",
	CodeNoSuchIdentifier:       "No such identifier",
	CodeNotSupported:           "Not supported",
	CodeInternal:               "Internal error",
	CodeDiskAccessDenied:       "Direct disk access denied",
	CodeTooManyFiles:           "Too many files in a directory insert",
	CodeBadMIMEType:            "Bad MIME type",
	CodeShuttingDown:           "Node is shutting down",
	CodeNoSuchNode:             "No such node identifier",
	CodeRefParse:               "Error parsing the noderef",
	CodeCannotPeerWithSelf:     "Cannot peer with self",
	CodeDuplicatePeer:          "Node already has a peer with that identity",
}

// Sentinel errors a Backend wraps (fmt.Errorf("…: %w", fcp.ErrDataNotFound)) so that the
// server can tell Freenet's clients what happened with the codes they know (spec §16.6). An
// error that wraps none of them is reported as an internal error; a context error as
// cancelled. crypto.ErrInvalidURI is reported as an invalid URI.
var (
	// ErrDataNotFound: the network was searched and nobody had the key.
	ErrDataNotFound = errors.New("data not found")
	// ErrRouteNotFound: the request could not reach enough nodes to be sure the key is absent
	// (a fetch), or to store the data (an insert).
	ErrRouteNotFound = errors.New("route not found")
	// ErrOverloaded: the nodes that were asked refused for load; trying later may work.
	ErrOverloaded = errors.New("rejected for load")
	// ErrTooBig: the content is larger than the request's MaxSize allows.
	ErrTooBig = errors.New("content too big")
	// ErrAllDataNotFound: the content's description was found but too few of its blocks.
	ErrAllDataNotFound = errors.New("not enough of the data's blocks found")
	// ErrNotInManifest: the site was found but has no file at the path asked for.
	ErrNotInManifest = errors.New("no such file in the site")
	// ErrCorrupt: the content was found but does not decode (bad metadata, failed check).
	ErrCorrupt = errors.New("content does not decode")
	// ErrCollision: an insert met a different document already under the same SSK key.
	ErrCollision = errors.New("a different document already exists under this key")
	// ErrCancelled: the request was cancelled.
	ErrCancelled = errors.New("request cancelled")
	// ErrIdentifierCollision: the server already has a request with this Identifier
	// (returned by Client methods when the server answers IdentifierCollision).
	ErrIdentifierCollision = errors.New("identifier already in use")
)

// RedirectError is returned by a Backend's Get when the content has moved on, for instance a
// USK edition newer than the one asked for exists. The server answers GetFailed with Code=27
// and RedirectURI, and Freenet's clients send the request again for that URI. Client.Get
// returns it too, with the URI the node named.
type RedirectError struct {
	URI crypto.RequestURI
}

func (e *RedirectError) Error() string { return "content moved to " + e.URI.String() }

// op says whether a failure belongs to a fetch or an insert: the two use different codes.
type op int

const (
	opGet op = iota
	opPut
)

// failureKind is one row of the failure table: a sentinel and the codes and texts it has in
// GetFailed and PutFailed. A zero code means the outcome does not exist for that op.
type failureKind struct {
	err                error
	getCode, putCode   int
	getShort, putShort string
	description        string
	getFatal, putFatal bool
}

// Failure codes of GetFailed and PutFailed that Lethe uses (spec §16.6), Freenet's numbers.
const (
	GetCodeNotInArchive     = 10
	GetCodeDataNotFound     = 13
	GetCodeRouteNotFound    = 14
	GetCodeRejectedOverload = 15
	GetCodeInternalError    = 17
	GetCodeInvalidURI       = 20
	GetCodeTooBig           = 21
	GetCodeCancelled        = 25
	GetCodePermanentRedir   = 27
	GetCodeAllDataNotFound  = 28
	GetCodeCorrupt          = 4 // Freenet's INVALID_METADATA

	PutCodeInvalidURI       = 1
	PutCodeInternalError    = 3
	PutCodeRejectedOverload = 4
	PutCodeRouteNotFound    = 5
	PutCodeCollision        = 9
	PutCodeCancelled        = 10
)

// Rows of the table that no Backend error matches with errors.Is: the server picks them.
var (
	errInternal = errors.New("internal error")
	errRedirect = errors.New("permanent redirect")
)

// failures is the single table behind failureOf and errorOf.
var failures = []failureKind{
	{err: ErrDataNotFound, getCode: GetCodeDataNotFound, getShort: "Data not found", description: "Data not found"},
	{err: ErrRouteNotFound, getCode: GetCodeRouteNotFound, putCode: PutCodeRouteNotFound, getShort: "Route not found", putShort: "Route not found", description: "Could not reach enough nodes"},
	{err: ErrOverloaded, getCode: GetCodeRejectedOverload, putCode: PutCodeRejectedOverload, getShort: "Temporary overload", putShort: "Temporary overload", description: "Rejected for load by the nodes asked"},
	{err: ErrTooBig, getCode: GetCodeTooBig, getShort: "Too big", description: "Content larger than MaxSize", getFatal: true},
	{err: ErrAllDataNotFound, getCode: GetCodeAllDataNotFound, getShort: "All data not found", description: "Found the content's description but not enough of its blocks"},
	{err: ErrNotInManifest, getCode: GetCodeNotInArchive, getShort: "Not in archive", description: "The site has no file at this path", getFatal: true},
	{err: ErrCorrupt, getCode: GetCodeCorrupt, getShort: "Invalid metadata", description: "Content found but it does not decode", getFatal: true},
	{err: ErrCollision, putCode: PutCodeCollision, putShort: "Collision", description: "A different document already exists under this key", putFatal: true},
	{err: ErrCancelled, getCode: GetCodeCancelled, putCode: PutCodeCancelled, getShort: "Cancelled", putShort: "Cancelled", description: "Cancelled", getFatal: true, putFatal: true},
	{err: crypto.ErrInvalidURI, getCode: GetCodeInvalidURI, putCode: PutCodeInvalidURI, getShort: "Invalid URI", putShort: "Invalid URI", description: "Invalid URI", getFatal: true, putFatal: true},
	{err: errRedirect, getCode: GetCodePermanentRedir, getShort: "New URI", description: "Permanent redirect: use the new URI", getFatal: true},
	{err: errInternal, getCode: GetCodeInternalError, putCode: PutCodeInternalError, getShort: "Internal error", putShort: "Internal error", description: "Internal error"},
}

// failure is what a GetFailed or PutFailed carries.
type failure struct {
	Code        int
	Description string
	Short       string
	Extra       string
	Fatal       bool
	RedirectURI string // Code 27 only
}

// failureOf maps an error from a Backend to the failure the server reports (one half of the
// pair; errorOf is the other).
func failureOf(o op, err error) failure {
	var redirect *RedirectError
	if o == opGet && errors.As(err, &redirect) {
		f := failureFor(o, kindOf(errRedirect), err)
		f.RedirectURI = redirect.URI.String()
		return f
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return failureFor(o, kindOf(ErrCancelled), err)
	}
	for _, k := range failures {
		if errors.Is(err, k.err) && k.code(o) != 0 {
			return failureFor(o, k, err)
		}
	}
	return failureFor(o, kindOf(errInternal), err)
}

func (k failureKind) code(o op) int {
	if o == opGet {
		return k.getCode
	}
	return k.putCode
}

func kindOf(err error) failureKind {
	for _, k := range failures {
		if k.err == err {
			return k
		}
	}
	panic("fcp: failure table has no row for " + err.Error())
}

func failureFor(o op, k failureKind, err error) failure {
	f := failure{Description: k.description, Extra: err.Error()}
	if o == opGet {
		f.Code, f.Short, f.Fatal = k.getCode, k.getShort, k.getFatal
	} else {
		f.Code, f.Short, f.Fatal = k.putCode, k.putShort, k.putFatal
	}
	return f
}

// errorOf maps a failure code received by the client back to the sentinel, so that callers of
// Client.Get and Client.Put can branch with errors.Is (the other half of the pair). Codes with
// no sentinel, including Freenet codes Lethe never sends, give nil.
func errorOf(o op, code int) error {
	for _, k := range failures {
		if k.code(o) == code && k.err != errInternal && k.err != errRedirect {
			return k.err
		}
	}
	return nil
}

// RequestError is a GetFailed or PutFailed the server sent, as Client methods return it.
// It unwraps to the matching sentinel (ErrDataNotFound, …) when the code has one.
type RequestError struct {
	Message     string // "GetFailed" or "PutFailed"
	Code        int
	Description string
	Short       string
	Extra       string
	Fatal       bool
	sentinel    error
}

func (e *RequestError) Error() string {
	s := fmt.Sprintf("%s: %s (code %d)", e.Message, e.Description, e.Code)
	if e.Extra != "" {
		s += ": " + e.Extra
	}
	return s
}

func (e *RequestError) Unwrap() error { return e.sentinel }

// ProtocolError is a ProtocolError message the server sent: the request was not understood
// or not allowed, rather than tried and failed.
type ProtocolError struct {
	Code        int
	Description string
	Extra       string
	Fatal       bool
	Identifier  string
}

func (e *ProtocolError) Error() string {
	s := fmt.Sprintf("protocol error %d: %s", e.Code, e.Description)
	if e.Extra != "" {
		s += ": " + e.Extra
	}
	return s
}

// protocolErrorMessage builds the ProtocolError message for code.
func protocolErrorMessage(code int, extra, identifier string, fatal, global bool) *Message {
	m := NewMessage("ProtocolError",
		"Code", strconv.Itoa(code),
		"CodeDescription", protocolDescriptions[code])
	if extra != "" {
		m.Set("ExtraDescription", oneLine(extra))
	}
	m.SetBool("Fatal", fatal).SetBool("Global", global)
	if identifier != "" {
		m.Set("Identifier", identifier)
	}
	return m
}
