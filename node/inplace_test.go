package node

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/fcp"
)

// changeAfterHashing is a file the node reads in place (UploadFrom=disk) that someone
// changes on disk the moment the node has hashed it to its end, before the insert reads it
// again to encode it (spec §19.5).
type changeAfterHashing struct {
	f       *os.File
	size    int64
	once    sync.Once
	change  func(path string) error
	changed []byte // the file as the change left it
	err     error
}

func (c *changeAfterHashing) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.f.ReadAt(p, off)
	if off+int64(n) == c.size {
		c.once.Do(func() {
			if c.err = c.change(c.f.Name()); c.err == nil {
				c.changed, c.err = os.ReadFile(c.f.Name())
			}
		})
	}
	return n, err
}

func (c *changeAfterHashing) Read([]byte) (int, error) {
	return 0, errors.New("the node read the disk file as a stream instead of in place")
}

// TestInPlaceFileChanged: a file that changes between the hash and the encoding fails the
// insert with an error that says so, reports no URI, and leaves nothing behind: no block log
// in uploads/, the file as its user left it, and the same file inserted again once it holds
// still gets its URI.
func TestInPlaceFileChanged(t *testing.T) {
	n := runNode(t, t.TempDir(), nil) // no peers: an upload waits, the key is what counts
	const size = 6<<20 + 123          // more than the 4 MiB a spool keeps in memory
	for _, tc := range []struct {
		name   string
		change func(path string) error
	}{
		{"a byte rewritten", func(path string) error {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt([]byte{'!'}, size/2)
			return err
		}},
		{"cut short", func(path string) error { return os.Truncate(path, size-1000) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "changing.bin")
			if err := os.WriteFile(path, randomBytes(size, 5), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			file := &changeAfterHashing{f: f, size: size, change: tc.change}
			before := uploadLogs(t, n)
			var reported crypto.RequestURI
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, err = n.backend.Put(ctx, fcp.PutRequest{URI: crypto.InsertURI{Type: crypto.CHK}, Data: file, DataAt: file, DataLength: size, Filename: path},
				func(p fcp.Progress) {
					if p.URI.Type != 0 {
						reported = p.URI
					}
				})
			if file.err != nil {
				t.Fatalf("changing the file: %v", file.err)
			}
			if !errors.Is(err, errFileChanged) || !strings.Contains(err.Error(), "the file changed") {
				t.Fatalf("insert of a file changed under it: %v, want an error that says the file changed", err)
			}
			if reported.Type != 0 {
				t.Errorf("the insert reported the URI %v for content that was not what its keys came from", reported)
			}
			if logs := uploadLogs(t, n); len(logs) != len(before) {
				t.Errorf("uploads/ holds %v after the failed insert, %v before: the insert left its block log", logs, before)
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(after) != string(file.changed) {
				t.Errorf("the file is not as its user left it after the failed insert")
			}

			// Held still, the same file gets its key.
			ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			n.backend.Put(ctx, fcp.PutRequest{URI: crypto.InsertURI{Type: crypto.CHK}, Data: f, DataAt: f, DataLength: int64(len(after)), Filename: path},
				func(p fcp.Progress) {
					if p.URI.Type != 0 && reported.Type == 0 {
						reported = p.URI
						cancel() // the upload waits for a peer
					}
				})
			if reported.Type != crypto.CHK {
				t.Errorf("the file, once it held still, got no URI")
			}
		})
	}
}

var _ io.ReaderAt = (*changeAfterHashing)(nil)

// uploadLogs lists the node's block logs, sealed and not.
func uploadLogs(t *testing.T, n *Node) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(n.cfg.Dir, uploadsDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestInPlaceSiteFileChanged: a site's file the node reads where it lies (ClientPutDiskDir)
// that changes between the site's hash and its encoding fails the site's insert, as a file's
// does, with no URI and no block log left.
func TestInPlaceSiteFileChanged(t *testing.T) {
	n := runNode(t, t.TempDir(), nil)
	const size = 200 << 10
	path := filepath.Join(t.TempDir(), "index.html")
	if err := os.WriteFile(path, randomBytes(size, 6), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	file := &changeAfterHashing{f: f, size: size, change: func(path string) error {
		return os.WriteFile(path, randomBytes(size, 7), 0o644)
	}}
	before := uploadLogs(t, n)
	var reported crypto.RequestURI
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = n.backend.PutDir(ctx, fcp.PutDirRequest{URI: crypto.InsertURI{Type: crypto.CHK}, DefaultName: "index.html",
		Entries: []fcp.DirEntry{{Name: "index.html", Data: io.NewSectionReader(file, 0, size)}}},
		func(p fcp.Progress) {
			if p.URI.Type != 0 {
				reported = p.URI
			}
		})
	if file.err != nil {
		t.Fatalf("changing the file: %v", file.err)
	}
	if !errors.Is(err, errFileChanged) {
		t.Fatalf("insert of a site whose file changed under it: %v, want an error that says the file changed", err)
	}
	if reported.Type != 0 {
		t.Errorf("the insert reported the URI %v for a site that was not what its keys came from", reported)
	}
	if logs := uploadLogs(t, n); len(logs) != len(before) {
		t.Errorf("uploads/ holds %v after the failed insert, %v before: the insert left its block log", logs, before)
	}
}
