package fcp

import (
	"context"
	"io"

	"lethe/crypto"
)

// Backend inserts and fetches content for the server. The node implements it with Lethe's
// insert and fetch libraries; the server owns the protocol, the queue and the connections.
//
// Every method runs in its own goroutine, possibly many at once, and must return soon after
// ctx is cancelled (the client disconnected, the request was removed, or the server is
// closing). progress may be called any number of times from the method's goroutine or any
// other, but not after the method returns; it never blocks for long.
//
// Failures are reported by wrapping the sentinels of this package (ErrDataNotFound,
// ErrRouteNotFound, ErrOverloaded, ErrTooBig, ErrAllDataNotFound, ErrNotInManifest,
// ErrCorrupt, ErrCollision, ErrCancelled), crypto.ErrInvalidURI, a context error, or by
// returning a *RedirectError from Get; anything else is reported as an internal error with
// the error's text.
type Backend interface {
	// Put inserts req.DataLength bytes read from req.Data under req.URI and returns the URI
	// readers fetch with, without req.TargetFilename (the server appends it to CHK URIs).
	// With req.GetCHKOnly it computes that URI and inserts nothing. With req.RedirectTo set
	// (ClientPut's UploadFrom=redirect) it inserts, instead of data, a redirect to that URI:
	// a reader of req.URI gets what RedirectTo holds.
	Put(ctx context.Context, req PutRequest, progress func(Progress)) (crypto.RequestURI, error)
	// PutDir inserts a site: its files, then a manifest naming them, under req.URI, and
	// returns the site's request URI (for a USK, the edition inserted).
	PutDir(ctx context.Context, req PutDirRequest, progress func(Progress)) (crypto.RequestURI, error)
	// Get fetches req.URI. It returns what it learnt about the content and a stream of
	// exactly found.DataLength bytes; an error from the stream fails the request. The caller
	// closes the stream. Content larger than req.MaxSize is ErrTooBig, reported before any
	// data is read if the size is known.
	Get(ctx context.Context, req GetRequest, progress func(Progress)) (found Found, data io.ReadCloser, err error)
}

// PutRequest is an insert of one file: what ClientPut carries, as the server hands it to a
// Backend and as Client.Put sends it.
type PutRequest struct {
	URI            crypto.InsertURI // CHK@ (key from the content), SSK@…/doc, USK@…/site/N, KSK@word
	ContentType    string           // MIME type; "" for application/octet-stream
	TargetFilename string           // CHK only: a file name readers see, appended to the URI
	Data           io.Reader        // exactly DataLength bytes
	DataLength     int64
	// Filename, for UploadFrom=disk (spec §16.14), is the absolute path of a file on the
	// node's machine that the node reads itself: Client.Put sends it in place of Data, after
	// the connection proved with Client.TestDDARead that it may.
	Filename string
	// DataAt is, for UploadFrom=disk, the file the server opened, also given as Data: a
	// Backend may read it again from any offset instead of keeping a copy. It is the user's
	// own file and may change while the request runs.
	DataAt        io.ReaderAt
	GetCHKOnly    bool // compute the URI, insert nothing
	DontCompress  bool
	PriorityClass int // 0 (highest) … 6; Freenet's default is 2 for FCP
	MaxRetries    int // -1: retry for ever
	// RedirectTo, when its Type is set, makes the insert a redirect to content already in
	// the network (UploadFrom=redirect); Data is then empty.
	RedirectTo crypto.RequestURI
}

// PutDirRequest is a site insert: what ClientPutComplexDir carries.
type PutDirRequest struct {
	URI           crypto.InsertURI // where the manifest goes: usually USK@…/site/N
	DefaultName   string           // the file a reader of the bare site URI gets, "index.html"
	Entries       []DirEntry
	DontCompress  bool
	GetCHKOnly    bool
	PriorityClass int
	MaxRetries    int
}

// DirEntry is one file of a site: either data given with the request or a redirect to
// content already in the network.
type DirEntry struct {
	Name        string // path inside the site; may contain '/' for subdirectories
	ContentType string // "" for a type the Backend chooses from the name
	// Data holds the file when it came with the request (UploadFrom=direct); it is nil for a
	// redirect. Each entry has its own section reader, so entries may be read in any order
	// or at once.
	Data *io.SectionReader
	// TargetURI is where a redirect points (UploadFrom=redirect).
	TargetURI crypto.RequestURI
}

// IsRedirect reports whether the entry points at other content instead of carrying data.
func (e DirEntry) IsRedirect() bool { return e.Data == nil }

// GetRequest is a fetch: what ClientGet carries.
type GetRequest struct {
	URI           crypto.RequestURI
	MaxSize       int64 // largest content accepted, in bytes; the server caps it at its limit
	IgnoreDS      bool  // do not answer from the local store
	DSOnly        bool  // answer only from the local store
	PriorityClass int
	MaxRetries    int
}

// Found describes fetched content.
type Found struct {
	ContentType string // MIME type; "" is reported as application/octet-stream
	DataLength  int64
	// URI is what Client.Get fetched in the end, after the redirects it followed (a USK
	// at its newest edition); servers leave it empty.
	URI crypto.RequestURI
}

// Progress is a report from a Backend while a request runs. Fields that are zero are not
// known yet; the server sends each kind of message only when its fields are known and the
// request's Verbosity asks for it (spec §16.5).
type Progress struct {
	// Block counts, as SimpleProgress reports them.
	Total, Required, Failed, FatallyFailed, Succeeded int
	FinalizedTotal                                    bool
	// URI is, for an insert, the request URI once it is known (URIGenerated). Its Type is
	// zero until then.
	URI crypto.RequestURI
	// ContentType and DataLength are, for a fetch, the type and size of the content once
	// its description has been read (ExpectedMIME, ExpectedDataLength).
	ContentType string
	DataLength  int64
}
