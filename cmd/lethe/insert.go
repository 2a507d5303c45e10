package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"lethe/crypto"
	"lethe/fcp"
	"lethe/insert"
)

func init() {
	register(&command{
		name: "insert",
		args: "FILE|DIR [--ssk KEY | --usk NAME] [--to RECIPIENT] [--key-only] [--background]",
		summary: `Insert a file, or a directory as a site, through the running node, and print its URI.
A file gets a CHK@… key; with --ssk KEY it goes under your signed subspace key, as the
document named after the file. A directory becomes a site (its index.html is the front
page); with --usk NAME it is an edition of your updatable site NAME, and inserting it again
with the same key publishes the next edition. --to encrypts the file to age recipients
before it leaves this program: only their identities can read it.

The URI is printed as soon as the node has encoded the content, before the upload (except
for --usk, whose edition the network decides); the command then shows the upload's progress
and exits when the network holds every block. With --background it exits once the URI is
printed: the node finishes the upload on its own, resumes it if it restarts, and
` + "`lethe status`" + ` lists it. The URI works for others once the upload is done.`,
		run: runInsert,
	})
}

// stringList is a flag that may be given more than once.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func runInsert(ctx context.Context, e *env, args []string) error {
	c := commands["insert"]
	fs := newFlags(e, c)
	var (
		fcpFlag    = fs.String("fcp", "", "the node's client protocol address (default $LETHE_FCP or "+defaultFCP+")")
		ssk        = fs.String("ssk", "", "insert under this SSK insert key (from `lethe keygen`)")
		usk        = fs.String("usk", "", "insert as an edition of the updatable site `NAME` (with --ssk's key, or a new one)")
		edition    = fs.Int64("edition", 0, "with --usk: the edition to insert; a taken one moves on to the next free")
		keyOnly    = fs.Bool("key-only", false, "compute the URI the content gets from this node, insert nothing")
		mimeType   = fs.String("mime", "", "the MIME type (default: from the file name and content)")
		noCompress = fs.Bool("no-compress", false, "store the bytes as they are")
		background = fs.Bool("background", false, "exit once the URI is printed; the node finishes the upload")
		to         stringList
	)
	fs.Var(&to, "to", "encrypt to this age `RECIPIENT` (age1… or age1pq1…; repeat for several)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("insert", "give one file or directory to insert (got %d arguments)", len(pos))
	}
	path := pos[0]
	st, err := os.Stat(path)
	if err != nil {
		return fileError("insert", path, err)
	}
	if len(to) > 0 {
		if st.IsDir() {
			return usageError("insert", "--to encrypts single files; insert the files of a directory one by one, or an archive of it")
		}
		if err := crypto.CheckAgeRecipients(to); err != nil {
			return fail(exitUsage, "a recipient is the age1… line `lethe keygen --age` prints", "--to: %v", err)
		}
	}
	target, generated, err := insertTarget(*ssk, *usk, *edition, filepath.Base(filepath.Clean(path)), st.IsDir())
	if err != nil {
		return err
	}

	client, err := dialNode(ctx, fcpAddr(e, *fcpFlag))
	if err != nil {
		return err
	}
	defer client.Close()
	if generated {
		ins, _, err := client.GenerateSSK(ctx)
		if err != nil {
			return networkError("generate a key", err)
		}
		target.Seed, target.Crypto = ins.Seed, ins.Crypto
		fmt.Fprintf(e.stderr, "lethe: a new key for site %q. Keep its insert key secret; you need it to publish the next edition:\n  %s\n  next time: lethe insert %s --usk %s --ssk %s\n",
			*usk, ins.String(), path, *usk, ins.String())
	}

	label := "inserting " + filepath.Base(path)
	if *keyOnly {
		label = "computing the key of " + filepath.Base(path)
	}
	bar := newProgressBar(e.stderr, label)
	// The URI comes before the upload (URIGenerated): it is printed at once, and with
	// --background the command stops there; the node carries on with the upload.
	putCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var (
		mu      sync.Mutex
		printed string
	)
	printURI := func(u crypto.RequestURI) {
		mu.Lock()
		defer mu.Unlock()
		if s := u.String(); s != printed {
			printed = s
			fmt.Fprintln(e.stdout, s)
		}
	}
	progress := func(p fcp.Progress) {
		if p.URI.Type != 0 && !*keyOnly {
			printURI(p.URI)
			if *background {
				stop(errBackground)
				return
			}
		}
		bar.update(p.Succeeded, p.Total, p.Total > 0 && p.Succeeded == p.Total)
	}
	var uri crypto.RequestURI
	if st.IsDir() {
		uri, err = insertDir(putCtx, client, path, target, *keyOnly, *noCompress, progress)
	} else {
		uri, err = insertFile(putCtx, client, path, st.Size(), target, to, *mimeType, *keyOnly, *noCompress, progress)
	}
	bar.done()
	if errors.Is(context.Cause(putCtx), errBackground) && ctx.Err() == nil {
		fmt.Fprintln(e.stderr, "lethe: the node is uploading it; the URI works for others once the upload is done (lethe status lists uploads)")
		return nil
	}
	if err != nil {
		var ce *cliError
		if errors.As(err, &ce) {
			return err
		}
		return networkError("insert "+path, err)
	}
	printURI(uri)
	return nil
}

// errBackground ends an insert's client request once its URI is known (--background).
var errBackground = errors.New("the upload goes on in the background")

// insertTarget works out the insert URI from --ssk, --usk and --edition. generated is true
// when a USK needs a key pair the node must make.
func insertTarget(ssk, usk string, edition int64, name string, dir bool) (target crypto.InsertURI, generated bool, err error) {
	if ssk != "" {
		target, err = crypto.ParseInsertURI(strings.TrimSpace(ssk))
		if err != nil {
			return target, false, fail(exitUsage, "an SSK insert key is the InsertURI line `lethe keygen` prints (SSK@…,…,AQEC…/)", "--ssk: %v", err)
		}
		if target.Type != crypto.SSK {
			return target, false, fail(exitUsage, "give the SSK@… insert key `lethe keygen` prints", "--ssk: %v is not an SSK insert key", target.Type)
		}
	}
	switch {
	case usk != "":
		if ssk == "" {
			generated = true
		}
		target.Type, target.Site, target.Edition, target.DocName = crypto.USK, usk, edition, ""
		if _, err := crypto.ParseInsertURI(target.String()); err != nil && !generated {
			return target, false, fail(exitUsage, "", "--usk %q: %v", usk, err)
		}
	case ssk != "" && target.DocName == "":
		target.DocName = name
	case ssk == "":
		target = crypto.InsertURI{Type: crypto.CHK}
	}
	return target, generated, nil
}

// insertFile sends one file, encrypted to recipients first if there are any.
func insertFile(ctx context.Context, c *fcp.Client, path string, size int64, target crypto.InsertURI, to []string, mimeType string, keyOnly, noCompress bool, progress func(fcp.Progress)) (crypto.RequestURI, error) {
	f, err := os.Open(path)
	if err != nil {
		return crypto.RequestURI{}, fileError("insert", path, err)
	}
	defer f.Close()
	var data io.Reader = f
	name := filepath.Base(path)
	if len(to) > 0 {
		enc, err := encryptToTemp(f, to)
		if err != nil {
			return crypto.RequestURI{}, err
		}
		defer enc.Close()
		st, err := enc.Stat()
		if err != nil {
			return crypto.RequestURI{}, err
		}
		data, size = enc, st.Size()
		name += ".age"
		if mimeType == "" {
			mimeType = "application/octet-stream"
		}
	}
	req := fcp.PutRequest{
		URI:          target,
		ContentType:  mimeType,
		Data:         data,
		DataLength:   size,
		GetCHKOnly:   keyOnly,
		DontCompress: noCompress,
		MaxRetries:   -1,
	}
	if target.Type == crypto.CHK {
		req.TargetFilename = name
	}
	if len(to) == 0 {
		if abs, ok := nodeReads(ctx, c, path); ok {
			req.Data, req.Filename = nil, abs
		}
	}
	return c.Put(ctx, req, progress)
}

// nodeReads asks whether the node may read the file at path itself (spec §16.14): a node on
// this machine, running as this user, proves it with the TestDDA handshake in the file's
// directory, and then takes the file by its path instead of its bytes over the connection
// (spec §19.5: read where it lies, no copy). A node elsewhere, or one that refuses, gets the
// bytes: ok is false and the command sends them.
func nodeReads(ctx context.Context, c *fcp.Client, path string) (abs string, ok bool) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", false
	}
	allowed, err := c.TestDDARead(ctx, filepath.Dir(abs))
	return abs, err == nil && allowed
}

// encryptToTemp encrypts r to the recipients into an unlinked temporary file, so that its
// length is known before it is sent.
func encryptToTemp(r io.Reader, to []string) (*os.File, error) {
	tmp, err := os.CreateTemp("", "lethe-insert-*.age")
	if err != nil {
		return nil, fail(exitFile, "", "temporary file for the encrypted copy: %v", err)
	}
	os.Remove(tmp.Name())
	w, err := crypto.EncryptTo(tmp, to)
	if err == nil {
		if _, err = io.Copy(w, r); err == nil {
			err = w.Close()
		}
	}
	if err == nil {
		_, err = tmp.Seek(0, io.SeekStart)
	}
	if err != nil {
		tmp.Close()
		return nil, fail(exitFile, "", "encrypt: %v", err)
	}
	return tmp, nil
}

// insertDir sends a directory as a site: every regular file under it, as data.
func insertDir(ctx context.Context, c *fcp.Client, dir string, target crypto.InsertURI, keyOnly, noCompress bool, progress func(fcp.Progress)) (crypto.RequestURI, error) {
	listing, err := insert.DirFS(os.DirFS(dir))
	if err != nil {
		return crypto.RequestURI{}, fail(exitFile, "rename or remove it: names in a site must be usable in a URI", "%s: %v", dir, err)
	}
	if len(listing.Entries) == 0 {
		return crypto.RequestURI{}, fail(exitFile, "", "%s has no files to insert", dir)
	}
	if len(listing.Entries) > fcp.MaxDirFiles {
		return crypto.RequestURI{}, fail(exitFile, "insert it in parts, or as an archive", "%s has %d files; a site holds at most %d", dir, len(listing.Entries), fcp.MaxDirFiles)
	}
	req := fcp.PutDirRequest{URI: target, DefaultName: insert.DefaultName, GetCHKOnly: keyOnly, DontCompress: noCompress, MaxRetries: -1}
	for _, entry := range listing.Entries {
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(entry.Path)))
		if err != nil {
			return crypto.RequestURI{}, fileError("insert", entry.Path, err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return crypto.RequestURI{}, fileError("insert", entry.Path, err)
		}
		req.Entries = append(req.Entries, fcp.DirEntry{Name: entry.Path, Data: io.NewSectionReader(f, 0, st.Size())})
	}
	if !hasEntry(req.Entries, insert.DefaultName) {
		req.DefaultName = ""
	}
	return c.PutDir(ctx, req, progress)
}

func hasEntry(entries []fcp.DirEntry, name string) bool {
	for _, e := range entries {
		if e.Name == name {
			return true
		}
	}
	return false
}

// fileError explains a local file that cannot be used.
func fileError(cmd, path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fail(exitFile, "check the path", "%s: no such file or directory", path)
	case errors.Is(err, fs.ErrPermission):
		return fail(exitFile, "", "%s: permission denied", path)
	}
	return fail(exitFile, "", "%s: %v", path, err)
}
