package fcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"

	"lethe/crypto"
)

// MaxDirFiles bounds the files of one ClientPutComplexDir (ProtocolError 34 beyond it).
const MaxDirFiles = 2048

// UploadFrom values.
const (
	uploadDirect   = "direct"
	uploadDisk     = "disk"
	uploadRedirect = "redirect"
)

func uploadFromField(m *Message, key string) (string, error) {
	v, ok := m.Get(key)
	if !ok || v == "" {
		return uploadDirect, nil
	}
	switch u := strings.ToLower(v); u {
	case uploadDirect, uploadRedirect, uploadDisk:
		return u, nil
	}
	return "", invalid(m, key, fmt.Sprintf("%q is not direct, disk or redirect", truncate(v, 32)))
}

// insertFields are read alike by ClientPut and ClientPutComplexDir.
type insertFields struct {
	commonFields
	uri                      crypto.InsertURI
	getCHKOnly, dontCompress bool
}

func readInsert(m *Message) (insertFields, error) {
	var f insertFields
	var err error
	if f.commonFields, err = readCommon(m); err != nil {
		return f, err
	}
	if f.uri, err = insertURIField(m, "URI"); err != nil {
		return f, err
	}
	if f.getCHKOnly, err = boolField(m, "GetCHKOnly", false); err != nil {
		return f, err
	}
	f.dontCompress, err = boolField(m, "DontCompress", false)
	return f, err
}

// parsePut reads a ClientPut (spec §16.4) into a request; the data is attached by the caller.
func (s *Server) parsePut(m *Message) (*request, error) {
	f, err := readInsert(m)
	if err != nil {
		return nil, err
	}
	common, uri := f.commonFields, f.uri
	from, err := uploadFromField(m, "UploadFrom")
	if err != nil {
		return nil, err
	}
	var redirect crypto.RequestURI
	var diskPath string
	switch {
	case from != uploadDirect && m.HasData:
		return nil, invalid(m, "UploadFrom", "UploadFrom="+from+" carries no data")
	case from == uploadDisk:
		if diskPath, err = diskFileField(m, "Filename"); err != nil {
			return nil, err
		}
	case from == uploadRedirect:
		if redirect, err = requestURIField(m, "TargetURI"); err != nil {
			return nil, err
		}
	case !m.HasData:
		return nil, missing(m, "DataLength (and the data, after a Data line)")
	}
	length, _ := m.dataLength()
	req := PutRequest{URI: uri, DataLength: length, PriorityClass: common.priority, MaxRetries: common.maxRetries,
		GetCHKOnly: f.getCHKOnly, DontCompress: f.dontCompress, RedirectTo: redirect}
	if req.ContentType, err = contentTypeField(m, "Metadata.ContentType"); err != nil {
		return nil, err
	}
	if blob, err := boolField(m, "BinaryBlob", false); err != nil {
		return nil, err
	} else if blob {
		return nil, &fieldError{CodeNotSupported, "ClientPut: BinaryBlob is not supported"}
	}
	name := m.Value("TargetFilename")
	if name != "" {
		if err := checkPathComponent(name); err != nil {
			return nil, invalid(m, "TargetFilename", err.Error())
		}
		if uri.Type == crypto.CHK {
			req.TargetFilename = name
		}
	}
	r := &request{srv: s, kind: kindPut, common: common, msg: m, targetFilename: req.TargetFilename}
	if diskPath != "" {
		r.diskPaths = []string{diskPath}
	}
	r.run = func(ctx context.Context, r *request) {
		req := req
		if diskPath != "" {
			f, size, err := openDisk(diskPath)
			if err != nil {
				r.finishPut(ctx, crypto.RequestURI{}, err)
				return
			}
			defer f.Close()
			req.Data, req.DataAt, req.DataLength, req.Filename = f, f, size, diskPath
		}
		r.mu.Lock()
		switch {
		case diskPath != "":
		case req.RedirectTo.Type != 0:
			req.Data = strings.NewReader("")
		case r.input != nil:
			req.Data = r.input.reader()
		default:
			req.Data = r.body
		}
		r.mu.Unlock()
		uri, err := s.cfg.Backend.Put(ctx, req, r.progress)
		if r.body != nil {
			r.body.release()
		}
		r.finishPut(ctx, uri, err)
	}
	return r, nil
}

func checkPathComponent(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("%q is not a file name", name)
	case strings.ContainsRune(name, '/'):
		return fmt.Errorf("%q contains '/'", truncate(name, 64))
	case len(name) > crypto.MaxPathLength:
		return fmt.Errorf("is longer than %d bytes", crypto.MaxPathLength)
	}
	return nil
}

// dirFile is one Files.<i> entry as parsed, before its data is attached.
type dirFile struct {
	entry  DirEntry
	offset int64 // of its data in the message's data; -1 for a redirect
	length int64
}

// parsePutDir reads a ClientPutComplexDir (spec §16.4.2).
func (s *Server) parsePutDir(m *Message) (*request, error) {
	f, err := readInsert(m)
	if err != nil {
		return nil, err
	}
	common := f.commonFields
	req := PutDirRequest{URI: f.uri, DefaultName: m.Value("DefaultName"), PriorityClass: common.priority, MaxRetries: common.maxRetries,
		GetCHKOnly: f.getCHKOnly, DontCompress: f.dontCompress}
	files, total, err := s.parseDirFiles(m)
	if err != nil {
		return nil, err
	}
	switch length, _ := m.dataLength(); {
	case total > 0 && !m.HasData:
		return nil, missing(m, "DataLength (and the data of the direct files)")
	case m.HasData && length != total:
		return nil, invalid(m, "DataLength", fmt.Sprintf("is %d but the direct files add up to %d bytes", length, total))
	}
	r := &request{srv: s, kind: kindPutDir, common: common, msg: m}
	r.run = func(ctx context.Context, r *request) {
		req := req
		req.Entries = make([]DirEntry, len(files))
		r.mu.Lock()
		for i, f := range files {
			req.Entries[i] = f.entry
			if f.offset >= 0 {
				req.Entries[i].Data = r.input.section(f.offset, f.length)
			}
		}
		r.mu.Unlock()
		uri, err := s.cfg.Backend.PutDir(ctx, req, r.progress)
		r.finishPut(ctx, uri, err)
	}
	return r, nil
}

// parseDirFiles reads Files.0.*, Files.1.*, … up to the first missing index, as Freenet's
// node does, and returns them with the total length of their direct data.
func (s *Server) parseDirFiles(m *Message) ([]dirFile, int64, error) {
	byIndex := map[int]map[string]string{}
	for _, f := range m.Fields {
		rest, ok := strings.CutPrefix(f.Key, "Files.")
		if !ok {
			continue
		}
		num, sub, ok := strings.Cut(rest, ".")
		i, err := strconv.Atoi(num)
		if !ok || err != nil || i < 0 || strconv.Itoa(i) != num {
			return nil, 0, invalid(m, f.Key, "is not Files.<number>.<field>")
		}
		if i >= MaxDirFiles {
			return nil, 0, &fieldError{CodeTooManyFiles, fmt.Sprintf("%s: more than %d files", m.Name, MaxDirFiles)}
		}
		if byIndex[i] == nil {
			byIndex[i] = map[string]string{}
		}
		byIndex[i][sub] = f.Value
	}
	if len(byIndex[0]) == 0 {
		return nil, 0, &fieldError{CodeMissingField, m.Name + ": missing Files section"}
	}
	var files []dirFile
	var total int64
	names := map[string]bool{}
	for i := 0; len(byIndex[i]) > 0; i++ {
		fm := &Message{Name: m.Name}
		for k, v := range byIndex[i] {
			fm.Set(k, v)
		}
		sort.Slice(fm.Fields, func(a, b int) bool { return fm.Fields[a].Key < fm.Fields[b].Key })
		prefix := "Files." + strconv.Itoa(i) + "."
		f, err := s.parseDirFile(fm, prefix)
		if err != nil {
			return nil, 0, err
		}
		if names[f.entry.Name] {
			return nil, 0, invalid(m, prefix+"Name", fmt.Sprintf("%q appears twice", truncate(f.entry.Name, 64)))
		}
		names[f.entry.Name] = true
		if f.offset >= 0 {
			f.offset = total
			if total += f.length; total > s.cfg.MaxDataLength {
				return nil, 0, invalid(m, prefix+"DataLength", fmt.Sprintf("brings the data over this node's limit of %d bytes", s.cfg.MaxDataLength))
			}
		}
		files = append(files, f)
	}
	return files, total, nil
}

// parseDirFile reads one entry; fm holds its fields without the "Files.<i>." prefix, which
// errors put back.
func (s *Server) parseDirFile(fm *Message, prefix string) (dirFile, error) {
	fix := func(err error) error {
		var fe *fieldError
		if errors.As(err, &fe) {
			fe.extra = strings.Replace(fe.extra, fm.Name+": ", fm.Name+": "+prefix, 1)
		}
		return err
	}
	name, err := requiredField(fm, "Name")
	if err != nil {
		return dirFile{}, &fieldError{CodeMissingField, fmt.Sprintf("%s: missing %sName", fm.Name, prefix)}
	}
	for _, part := range strings.Split(name, "/") {
		if err := checkPathComponent(part); err != nil {
			return dirFile{}, fix(invalid(fm, "Name", err.Error()))
		}
	}
	f := dirFile{entry: DirEntry{Name: name}, offset: -1}
	if f.entry.ContentType, err = contentTypeField(fm, "Metadata.ContentType"); err != nil {
		return dirFile{}, fix(err)
	}
	from, err := uploadFromField(fm, "UploadFrom")
	if err != nil {
		return dirFile{}, fix(err)
	}
	switch from {
	case uploadDisk:
		return dirFile{}, &fieldError{CodeDiskAccessDenied, fm.Name + ": files from disk go in with ClientPutDiskDir; here use UploadFrom=direct"}
	case uploadDirect:
		if _, ok := fm.Get("DataLength"); !ok {
			return dirFile{}, &fieldError{CodeMissingField, fmt.Sprintf("%s: missing %sDataLength", fm.Name, prefix)}
		}
		n, err := boundedInt(fm, "DataLength", 0, 0, s.cfg.MaxDataLength)
		if err != nil {
			return dirFile{}, fix(err)
		}
		f.offset, f.length = 0, n
	case uploadRedirect:
		if f.entry.TargetURI, err = requestURIField(fm, "TargetURI"); err != nil {
			var fe *fieldError
			if errors.As(err, &fe) && fe.code == CodeMissingField {
				return dirFile{}, &fieldError{CodeMissingField, fmt.Sprintf("%s: missing %sTargetURI", fm.Name, prefix)}
			}
			return dirFile{}, fix(err)
		}
	}
	return f, nil
}

// bodyReader hands the data of a ClientPut to the Backend straight from the connection, so
// that a large insert is never held in memory. The connection's read loop waits until the
// data has been read to its end, or the Backend has returned, and then takes the connection
// back: it skips whatever the Backend left unread, and reads the next message.
type bodyReader struct {
	mu       sync.Mutex // guards r, detached and complete
	r        *Reader
	detached bool
	complete bool // every byte was read
	once     sync.Once
	done     chan struct{} // closed when the read loop may take the connection back
}

var errBodyDetached = errors.New("fcp: the request's data is no longer available")

func newBodyReader(r *Reader) *bodyReader {
	b := &bodyReader{r: r, done: make(chan struct{})}
	if r.Pending() == 0 {
		b.complete = true
		b.signal()
	}
	return b
}

func (b *bodyReader) signal() { b.once.Do(func() { close(b.done) }) }

func (b *bodyReader) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.complete {
		return 0, io.EOF
	}
	if b.detached {
		return 0, errBodyDetached
	}
	n, err := b.r.Data().Read(p)
	if b.r.Pending() == 0 {
		b.complete = true
	}
	if err != nil || b.complete {
		b.signal()
	}
	return n, err
}

// release is called when the Backend has returned: it will read no more.
func (b *bodyReader) release() { b.signal() }

// detach waits until the data was read or the Backend returned, then takes the reader back.
func (b *bodyReader) detach() {
	<-b.done
	b.mu.Lock()
	b.detached = true
	b.mu.Unlock()
}
