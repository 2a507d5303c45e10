package fcp

import (
	"context"
	"errors"

	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"lethe/crypto"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Direct disk access (spec §16.14): a client proves it can read (or write) a directory of the
// node's machine with the TestDDA handshake, as Freenet's node asks; then its ClientPut with
// UploadFrom=disk and its ClientPutDiskDir may name files there, which the node reads itself.

// dda is what one connection has proved: the directories it may have the node read, and
// those it may have the node write fetched files into.
type dda struct {
	mu       sync.Mutex
	pending  map[string]ddaTest // by directory, until TestDDAResponse; guarded by mu
	readable []string           // directories proved readable; guarded by mu
	writable []string           // directories proved writable; guarded by mu
}

type ddaTest struct {
	readFile, readContent string // the node's file for the read test, and what it holds
	writeFile, writeWant  string // the file the client writes for the write test, and what
}

// maxDDADirs bounds the directories one connection may have proved or pending.
const maxDDADirs = 64

func ddaDir(m *Message) (string, error) {
	dir, err := requiredField(m, "Directory")
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(dir) {
		return "", invalid(m, "Directory", "is not an absolute path")
	}
	return filepath.Clean(dir), nil
}

// testDDARequest answers TestDDARequest (Directory, WantReadDirectory, WantWriteDirectory)
// with TestDDAReply: for a read test the node writes a file of random content into the
// directory for the client to read back; for a write test it names a file and the content
// the client must write there.
func (c *conn) testDDARequest(m *Message) {
	id := m.Value("Identifier")
	if !c.srv.cfg.DiskAccessFromAnyHost && !c.loopback() {
		c.protocolError(CodeDiskAccessDenied, "direct disk access is for clients on this machine", id, false, false)
		return
	}
	dir, err := ddaDir(m)
	if err != nil {
		c.fieldError(m, err)
		return
	}
	wantRead, err := boolField(m, "WantReadDirectory", false)
	if err == nil {
		var wantWrite bool
		if wantWrite, err = boolField(m, "WantWriteDirectory", false); err == nil {
			c.ddaStart(m, id, dir, wantRead, wantWrite)
			return
		}
	}
	c.fieldError(m, err)
}

func (c *conn) ddaStart(m *Message, id, dir string, wantRead, wantWrite bool) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		c.protocolError(CodeFileNotFound, "TestDDARequest: "+truncate(dir, 200)+" is not a directory", id, false, false)
		return
	}
	var t ddaTest
	reply := NewMessage("TestDDAReply", "Directory", dir)
	if wantRead {
		t.readContent = c.randomHex(16)
		t.readFile = filepath.Join(dir, "DDACheck-"+c.randomHex(8)+".tmp")
		// O_EXCL: never over a file that is there, whoever made it. Mode 0600: only a client
		// running as the node's own user (or root) can read it back, so that passing the test
		// gives no client a way to have the node read files it could not read itself (through
		// a symbolic link in the directory, or a file only the node's user may read).
		f, err := os.OpenFile(t.readFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, err = io.WriteString(f, t.readContent)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			os.Remove(t.readFile)
			c.protocolError(CodeDiskAccessDenied, "TestDDARequest: the node cannot write its test file in "+truncate(dir, 200), id, false, false)
			return
		}
		reply.Set("ReadFilename", t.readFile)
	}
	if wantWrite {
		t.writeFile = filepath.Join(dir, "DDACheck-"+c.randomHex(8)+".tmp")
		t.writeWant = c.randomHex(16)
		reply.Set("WriteFilename", t.writeFile).Set("ContentToWrite", t.writeWant)
	}
	c.dda.mu.Lock()
	if c.dda.pending == nil {
		c.dda.pending = map[string]ddaTest{}
	}
	old, had := c.dda.pending[dir]
	full := len(c.dda.pending)+len(c.dda.readable)+len(c.dda.writable) >= maxDDADirs && !had
	if !full {
		c.dda.pending[dir] = t
	}
	c.dda.mu.Unlock()
	if had && old.readFile != "" {
		os.Remove(old.readFile)
	}
	if full {
		os.Remove(t.readFile)
		c.protocolError(CodeInternal, "TestDDARequest: too many directories on one connection", id, false, false)
		return
	}
	c.send(withIdentifier(reply, id), nil)
}

// testDDAResponse checks the client's TestDDAResponse (Directory, ReadContent) against the
// test and answers TestDDAComplete with what the client may do there.
func (c *conn) testDDAResponse(m *Message) {
	id := m.Value("Identifier")
	dir, err := ddaDir(m)
	if err != nil {
		c.fieldError(m, err)
		return
	}
	c.dda.mu.Lock()
	t, ok := c.dda.pending[dir]
	delete(c.dda.pending, dir)
	c.dda.mu.Unlock()
	if !ok {
		c.protocolError(CodeInvalidMessage, "TestDDAResponse without a TestDDARequest for "+truncate(dir, 200), id, false, false)
		return
	}
	readOK := false
	if t.readFile != "" {
		got := m.Value("ReadContent")
		readOK = subtle.ConstantTimeCompare([]byte(got), []byte(t.readContent)) == 1
		os.Remove(t.readFile)
	}
	writeOK := false
	if t.writeFile != "" {
		b, err := readSmall(t.writeFile, 1024)
		writeOK = err == nil && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(string(b))), []byte(t.writeWant)) == 1
	}
	c.dda.mu.Lock()
	if readOK {
		c.dda.readable = append(c.dda.readable, dir)
	}
	if writeOK {
		c.dda.writable = append(c.dda.writable, dir)
	}
	c.dda.mu.Unlock()
	reply := NewMessage("TestDDAComplete", "Directory", dir)
	if t.readFile != "" {
		reply.SetBool("ReadDirectoryAllowed", readOK)
	}
	if t.writeFile != "" {
		reply.SetBool("WriteDirectoryAllowed", writeOK)
	}
	c.send(withIdentifier(reply, id), nil)
}

// mayRead reports whether the connection proved it can read the directory holding path, or
// one above it. path must be absolute and clean.
func (c *conn) mayRead(path string) bool {
	c.dda.mu.Lock()
	defer c.dda.mu.Unlock()
	return provedFor(c.dda.readable, path) != ""
}

// mayWrite returns the directory the connection proved it can write that holds path, or one
// above it; "" if there is none. path must be absolute and clean.
func (c *conn) mayWrite(path string) string {
	c.dda.mu.Lock()
	defer c.dda.mu.Unlock()
	return provedFor(c.dda.writable, path)
}

// provedFor returns the directory of dirs that holds path, or "".
func provedFor(dirs []string, path string) string {
	for _, d := range dirs {
		if rel, err := filepath.Rel(d, path); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return d
		}
	}
	return ""
}

// saveToDisk writes a fetched file for ReturnType=disk as path, a new file inside dir, the
// directory the client proved it can write. The file is made within dir through os.Root, so
// that a symbolic link the client put there (to a directory, or as path itself) cannot lead
// the node to write anywhere else; and never over a file that is there (O_EXCL), so that the
// node replaces nothing, its own files least of all. A file half written is removed.
func saveToDisk(dir, path string, data io.Reader) error {
	rel, err := filepath.Rel(dir, path)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrDiskWrite, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrDiskWrite, err)
	}
	defer root.Close()
	f, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrDiskWrite, err)
	}
	_, err = io.Copy(f, data)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		root.Remove(rel)
		return fmt.Errorf("%w: %s: %v", ErrDiskWrite, path, err)
	}
	return nil
}

// ErrDiskWrite: the file a ReturnType=disk fetch names cannot be written.
var ErrDiskWrite = errors.New("the file cannot be written")

// dropDDA removes the node's test files still waiting for a response; the connection ends.
func (c *conn) dropDDA() {
	c.dda.mu.Lock()
	defer c.dda.mu.Unlock()
	for _, t := range c.dda.pending {
		if t.readFile != "" {
			os.Remove(t.readFile)
		}
	}
	c.dda.pending = nil
}

func (c *conn) randomHex(n int) string {
	b := make([]byte, n)
	if _, err := io.ReadFull(c.srv.cfg.Rand, b); err != nil {
		panic("fcp: randomness failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

func readSmall(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

// diskFileField is the absolute, clean path a disk upload names in key.
func diskFileField(m *Message, key string) (string, error) {
	p, err := requiredField(m, key)
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(p) {
		return "", invalid(m, key, "is not an absolute path")
	}
	return filepath.Clean(p), nil
}

// openDisk opens a regular file a disk upload names.
func openDisk(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrDiskFile, err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%w: %s is not a regular file", ErrDiskFile, path)
	}
	return f, fi.Size(), nil
}

// diskDir lists the regular files under dir for ClientPutDiskDir, as site paths with '/',
// hidden ones (a name starting with '.') only if asked.
func diskDir(dir string, hidden bool) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && !hidden && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			out = append(out, filepath.ToSlash(rel))
			if len(out) > MaxDirFiles {
				return fmt.Errorf("more than %d files", MaxDirFiles)
			}
		}
		return nil
	})
	return out, err
}

// ErrDiskFile: a file a disk upload names cannot be read.
var ErrDiskFile = errors.New("the file cannot be read")

// parsePutDiskDir reads a ClientPutDiskDir (spec §16.14): the header fields of a directory
// insert, and Filename, the directory whose files the node reads and inserts as a site.
func (s *Server) parsePutDiskDir(m *Message) (*request, error) {
	f, err := readInsert(m)
	if err != nil {
		return nil, err
	}
	dir, err := diskFileField(m, "Filename")
	if err != nil {
		return nil, err
	}
	hidden, err := boolField(m, "IncludeHiddenFiles", false)
	if err != nil {
		return nil, err
	}
	if m.HasData {
		return nil, invalid(m, "DataLength", "ClientPutDiskDir carries no data")
	}
	common := f.commonFields
	req := PutDirRequest{URI: f.uri, DefaultName: m.Value("DefaultName"), PriorityClass: common.priority, MaxRetries: common.maxRetries,
		GetCHKOnly: f.getCHKOnly, DontCompress: f.dontCompress}
	r := &request{srv: s, kind: kindPutDir, common: common, msg: m, diskPaths: []string{dir}}
	r.run = func(ctx context.Context, r *request) {
		req := req
		names, err := diskDir(dir, hidden)
		if err != nil {
			r.finishPut(ctx, crypto.RequestURI{}, fmt.Errorf("%w: %s: %v", ErrDiskFile, dir, err))
			return
		}
		for _, name := range names {
			f, size, err := openDisk(filepath.Join(dir, filepath.FromSlash(name)))
			if err != nil {
				r.finishPut(ctx, crypto.RequestURI{}, err)
				return
			}
			defer f.Close()
			req.Entries = append(req.Entries, DirEntry{Name: name, Data: io.NewSectionReader(f, 0, size)})
		}
		uri, err := s.cfg.Backend.PutDir(ctx, req, r.progress)
		r.finishPut(ctx, uri, err)
	}
	return r, nil
}
