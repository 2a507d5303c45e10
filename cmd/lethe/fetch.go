package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"lethe/crypto"
	"lethe/fcp"
)

func init() {
	register(&command{
		name: "fetch",
		args: "URI [-o FILE] [--force] [--identity FILE]",
		summary: `Fetch content by its URI through the running node and write it to a file.
The node verifies every block before any byte is written; the file appears under its final
name only once it is complete, so an interrupted fetch leaves nothing half-written. Without
-o the file is named after the URI's last part; -o - writes to standard output. An existing
file is not overwritten unless --force is given. Content encrypted with ` + "`insert --to`" + `
is decrypted with --identity (an age identity file).`,
		run: runFetch,
	})
}

// ageHeader starts every age file (age-encryption.org/v1).
var ageHeader = []byte("age-encryption.org/v1\n")

func runFetch(ctx context.Context, e *env, args []string) error {
	c := commands["fetch"]
	fs := newFlags(e, c)
	var (
		fcpFlag  = fs.String("fcp", "", "the node's client protocol address (default $LETHE_FCP or "+defaultFCP+")")
		out      = fs.String("o", "", "write to `FILE` (- for standard output)")
		force    = fs.Bool("force", false, "overwrite FILE if it exists")
		identity = fs.String("identity", "", "age identity `FILE` to decrypt content inserted with --to")
		maxSize  = fs.Int64("max-size", 0, "refuse content larger than this many bytes (default: the node's limit)")
	)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("fetch", "give one URI to fetch (got %d arguments)", len(pos))
	}
	uri, err := parseURIArg("fetch", pos[0])
	if err != nil {
		return err
	}
	var ids []byte
	if *identity != "" {
		if ids, err = os.ReadFile(*identity); err != nil {
			return fileError("fetch", *identity, err)
		}
	}
	dest := *out
	if dest == "" {
		parts := uri.Components()
		if len(parts) == 0 || uri.Type == crypto.USK && len(parts) == 0 {
			return usageError("fetch", "the URI names no file; give -o FILE (or -o - for standard output)")
		}
		dest = parts[len(parts)-1]
	}
	if dest != "-" && !*force {
		if _, err := os.Stat(dest); err == nil {
			return fail(exitFile, "give --force to replace it, or -o another name", "%s already exists", dest)
		}
	}

	client, err := dialNode(ctx, fcpAddr(e, *fcpFlag))
	if err != nil {
		return err
	}
	defer client.Close()
	bar := newProgressBar(e.stderr, "fetching "+filepath.Base(dest))
	progress := func(p fcp.Progress) { bar.update(p.Succeeded, p.Required, p.FinalizedTotal) }
	req := fcp.GetRequest{URI: uri, MaxSize: *maxSize, MaxRetries: -1}

	get := func(w io.Writer) (fcp.Found, error) {
		found, err := getInto(ctx, client, req, w, ids, progress)
		bar.done()
		if err != nil {
			return found, fetchError(uri, err)
		}
		return found, nil
	}
	if dest == "-" {
		w := bufio.NewWriter(e.stdout)
		if _, err := get(w); err != nil {
			return err
		}
		return w.Flush()
	}

	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".part-*")
	if err != nil {
		return fileError("fetch", filepath.Dir(dest), err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	defer tmp.Close()
	found, err := get(tmp)
	if err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fileError("fetch", dest, err)
	}
	if err := tmp.Close(); err != nil {
		return fileError("fetch", dest, err)
	}
	if !*force {
		if _, err := os.Stat(dest); err == nil {
			return fail(exitFile, "give --force to replace it", "%s appeared while fetching; not replaced", dest)
		}
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return fileError("fetch", dest, err)
	}
	if ids == nil && startsWithAge(dest) {
		fmt.Fprintf(e.stderr, "lethe: hint: %s is encrypted with age; fetch it with --identity FILE to decrypt it\n", dest)
	}
	fmt.Fprintf(e.stderr, "%s: %d bytes, %s\n", dest, found.DataLength, orOctet(found.ContentType))
	return nil
}

func orOctet(t string) string {
	if t == "" {
		return "application/octet-stream"
	}
	return t
}

func fetchError(uri crypto.RequestURI, err error) error {
	var ce *cliError
	if errors.As(err, &ce) {
		return err
	}
	if errors.Is(err, fcp.ErrTooBig) {
		return fail(exitFailed, "give a larger --max-size", "fetch %v: %v", uri, err)
	}
	return networkError("fetch "+uri.String(), err)
}

func startsWithAge(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, len(ageHeader))
	_, err = io.ReadFull(f, b)
	return err == nil && bytes.Equal(b, ageHeader)
}

// getInto fetches req into w, through an age decryption with the identities if there are
// any.
func getInto(ctx context.Context, c *fcp.Client, req fcp.GetRequest, w io.Writer, identities []byte, progress func(fcp.Progress)) (fcp.Found, error) {
	if identities == nil {
		return c.Get(ctx, req, w, progress)
	}
	dec := newDecrypting(w, identities)
	found, err := c.Get(ctx, req, dec, progress)
	return found, dec.finish(err)
}

// decrypting is a writer that decrypts an age file written to it, with the identities,
// into w. The node hands content over only once it is whole and verified; age then checks
// it was encrypted for these identities and not altered.
type decrypting struct {
	pw   *io.PipeWriter
	done chan error
}

func newDecrypting(w io.Writer, identities []byte) *decrypting {
	pr, pw := io.Pipe()
	d := &decrypting{pw: pw, done: make(chan error, 1)}
	go func() {
		r, err := crypto.DecryptWith(pr, bytes.NewReader(identities))
		if err == nil {
			_, err = io.Copy(w, r)
		}
		if err != nil {
			err = fail(exitFailed, "is this the identity the content was encrypted to?", "decrypt: %v", err)
		}
		pr.CloseWithError(err)
		d.done <- err
	}()
	return d
}

func (d *decrypting) Write(p []byte) (int, error) { return d.pw.Write(p) }

// finish ends the input, with the fetch's error if it failed, and waits for the decryption
// to finish. It returns the fetch's error, or else the decryption's.
func (d *decrypting) finish(fetchErr error) error {
	if fetchErr != nil {
		d.pw.CloseWithError(fetchErr)
		<-d.done
		return fetchErr
	}
	d.pw.Close()
	return <-d.done
}
