package proxy

import (
	"archive/zip"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"

	"lethe/crypto"
	"lethe/fetch"
	"lethe/insert"
	"lethe/metadata"
	"lethe/private"
	"lethe/proxy/filter"
)

// Bounds on what the insert form may send (spec §20.4).
const (
	maxFieldLen   = 8 << 10 // bytes of one text field
	maxFields     = 16      // text fields before the files
	maxSiteFiles  = 10000   // files of one site, uploaded or in a zip
	siteNameLimit = crypto.MaxSiteName
)

// errUpload: the upload cannot be inserted as the form asks; the wrapping error says why.
var errUpload = errors.New("bad upload")

func (s *Server) insertForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "insert.html", view{Title: "Insert", Nav: "insert", Data: struct{ CanInsert bool }{s.cfg.Putter != nil}})
}

// insertPost inserts what the insert page's forms send (spec §20.4). The body is read part by
// part, in order: the token first (so that nothing of a forged request is read or stored),
// then the fields, then the files. A single file streams straight into the insert; the files
// of a site are kept in a temporary directory while the site is inserted, since a site's
// manifest needs all its files, and a zip archive can only be read whole.
func (s *Server) insertPost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxSize+1<<20)
	mr, err := r.MultipartReader()
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "Bad form", "The insert form must be sent as multipart/form-data.", err.Error())
		return
	}
	token, err := readField(mr, "token")
	if err == nil {
		err = s.guard.checkPost(r, token)
	}
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	if s.cfg.Putter == nil {
		s.errorPage(w, r, http.StatusServiceUnavailable, "No network", "This proxy is not connected to a node that inserts.", "")
		return
	}
	fields, part, err := readFields(mr)
	if err != nil {
		s.uploadError(w, r, nil, err)
		return
	}
	target, err := s.insertTarget(fields)
	if err != nil {
		s.uploadError(w, r, nil, err)
		return
	}

	ctx, cancel := s.requestContext(r)
	defer cancel()
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	name := "site"
	if target.Type == crypto.USK {
		name = target.Site
	}
	if fields["what"] == "file" && part != nil {
		name = part.FileName()
	}
	t := s.xfers.start(kindInsert, name, "", 0, func() { stop(errCancelled) })
	cfg := insert.Config{Progress: t.insertProgress, Logger: s.log}

	into := func(p insert.BlockPutter) (crypto.RequestURI, error) {
		switch fields["what"] {
		case "file":
			return s.insertFile(ctx, p, target, part, cfg)
		case "site":
			return s.insertSite(ctx, p, target, mr, part, cfg)
		}
		return crypto.RequestURI{}, fmt.Errorf("%w: the form says neither file nor site", errUpload)
	}
	var (
		uri  crypto.RequestURI
		wait func(context.Context, func(int64, int64)) error
	)
	if s.cfg.Uploads != nil && target.Type != crypto.USK {
		uri, wait, err = s.cfg.Uploads.Upload(ctx, into)
	} else {
		uri, err = into(s.cfg.Putter)
	}
	if cause := context.Cause(ctx); errors.Is(cause, errCancelled) {
		err = errCancelled
	}
	if err != nil {
		t.finish(err)
		s.uploadError(w, r, t, err)
		return
	}
	t.mu.Lock()
	t.result, t.link = uri.String(), filter.Path(uri)
	if target.Type == crypto.SSK || target.Type == crypto.USK {
		// The insert URI the owner needs to publish again: of the edition just used.
		t.insertURI = target.WithEdition(uri.Edition).String()
	}
	t.mu.Unlock()
	if wait != nil && s.begin() {
		// The URI is out; the transfer shows the upload until the network holds it.
		go func() {
			defer s.wg.Done()
			t.finish(wait(s.ctx, t.uploadProgress))
		}()
	} else {
		t.finish(nil)
	}
	if uri.Type == crypto.USK {
		if err := s.marks.add(uri.Site, uri); err != nil {
			s.log.Info("proxy: bookmark of inserted site", "err", private.Error{Err: err})
		}
	}
	redirect(w, "/transfers/"+t.id, http.StatusSeeOther)
}

func (s *Server) uploadError(w http.ResponseWriter, r *http.Request, t *transfer, err error) {
	if r.Context().Err() != nil {
		return
	}
	f := describe(err)
	d := errorData{Heading: "Insert failed: " + f.heading, Message: f.message, Detail: err.Error()}
	if f.retry {
		d.Retry = "/insert"
	}
	s.render(w, r, f.status, "error.html", view{Title: "Insert failed", Nav: "insert", Data: d})
}

// readField reads the next part, which must be the text field called name.
func readField(mr *multipart.Reader, name string) (string, error) {
	p, err := mr.NextPart()
	if err != nil {
		return "", fmt.Errorf("%w: reading %q: %w", errUpload, name, err)
	}
	defer p.Close()
	if p.FormName() != name || p.FileName() != "" {
		return "", fmt.Errorf("%w: the form's first field must be %q", errUpload, name)
	}
	return readText(p)
}

func readText(p *multipart.Part) (string, error) {
	b, err := io.ReadAll(io.LimitReader(p, maxFieldLen+1))
	if err != nil {
		return "", fmt.Errorf("%w: field %q: %w", errUpload, p.FormName(), err)
	}
	if len(b) > maxFieldLen {
		return "", fmt.Errorf("%w: field %q is longer than %d bytes", errUpload, p.FormName(), maxFieldLen)
	}
	return string(b), nil
}

// readFields reads the text fields up to the first file, which it returns unread (nil if
// the form has none).
func readFields(mr *multipart.Reader) (map[string]string, *multipart.Part, error) {
	fields := map[string]string{}
	for range maxFields {
		p, err := mr.NextPart()
		if err == io.EOF {
			return fields, nil, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errUpload, err)
		}
		if p.FileName() != "" || p.FormName() == "file" || p.FormName() == "files" || p.FormName() == "zip" {
			return fields, p, nil
		}
		v, err := readText(p)
		p.Close()
		if err != nil {
			return nil, nil, err
		}
		if _, dup := fields[p.FormName()]; !dup {
			fields[p.FormName()] = v
		}
	}
	return nil, nil, fmt.Errorf("%w: more than %d fields", errUpload, maxFields)
}

// insertTarget is the insert URI the form chose: a new CHK, a new site, or one the user has.
func (s *Server) insertTarget(fields map[string]string) (crypto.InsertURI, error) {
	switch fields["target"] {
	case "chk", "":
		return crypto.InsertURI{Type: crypto.CHK}, nil
	case "uri":
		u, err := crypto.ParseInsertURI(strings.TrimSpace(fields["insert-uri"]))
		if err != nil {
			return crypto.InsertURI{}, fmt.Errorf("%w: the insert URI: %w", errUpload, err)
		}
		return u, nil
	case "new":
		site := strings.TrimSpace(fields["site"])
		if site == "" || strings.Contains(site, "/") || len(site) > siteNameLimit {
			return crypto.InsertURI{}, fmt.Errorf("%w: a site's name is 1 to %d bytes without '/'", errUpload, siteNameLimit)
		}
		u, err := crypto.GenerateSSKURI(rand.Reader)
		if err != nil {
			return crypto.InsertURI{}, err
		}
		u.Type, u.Site, u.Edition = crypto.USK, site, 0
		if _, err := u.RequestURI(); err != nil {
			return crypto.InsertURI{}, fmt.Errorf("%w: site name %q: %w", errUpload, site, err)
		}
		return u, nil
	}
	return crypto.InsertURI{}, fmt.Errorf("%w: unknown target %q", errUpload, fields["target"])
}

// insertFile streams one uploaded file into an insert.
func (s *Server) insertFile(ctx context.Context, p insert.BlockPutter, target crypto.InsertURI, part *multipart.Part, cfg insert.Config) (crypto.RequestURI, error) {
	if part == nil || part.FormName() != "file" || part.FileName() == "" {
		return crypto.RequestURI{}, fmt.Errorf("%w: no file was chosen", errUpload)
	}
	defer part.Close()
	cfg.Name = part.FileName()
	return insert.File(ctx, p, target, &sizeLimit{r: part, left: s.cfg.MaxSize}, cfg)
}

// sizeLimit reads at most left bytes, and fails with fetch.ErrTooLarge if there are more.
type sizeLimit struct {
	r    io.Reader
	left int64
}

func (l *sizeLimit) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, fmt.Errorf("%w: the upload is larger than the proxy inserts", fetch.ErrTooLarge)
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return 0, fmt.Errorf("%w: the upload is larger than the proxy inserts", fetch.ErrTooLarge)
	}
	return n, err
}

// insertSite spools the uploaded files of a site (several files, or one zip archive) and
// inserts them as a site. The spool is a directory of its own in the proxy's spool (package
// spool): each file sealed under a key in memory, under a random name, and all of it removed
// when the insert ends, so that the disk shows neither the files nor their names, during the
// insert or after a crash.
func (s *Server) insertSite(ctx context.Context, p insert.BlockPutter, target crypto.InsertURI, mr *multipart.Reader, part *multipart.Part, cfg insert.Config) (crypto.RequestURI, error) {
	dir, err := s.spool.Sub()
	if err != nil {
		return crypto.RequestURI{}, err
	}
	defer dir.Remove()
	sp := &siteSpool{dir: dir, files: map[string]*private.File{}, left: s.cfg.MaxSize}
	for part != nil {
		err := sp.take(part)
		part.Close()
		if err != nil {
			return crypto.RequestURI{}, err
		}
		if part, err = nextPart(mr); err != nil {
			return crypto.RequestURI{}, err
		}
	}
	var site insert.Dir
	switch {
	case sp.zip != nil && len(sp.files) > 0:
		return crypto.RequestURI{}, fmt.Errorf("%w: choose files or a zip archive, not both", errUpload)
	case sp.zip != nil:
		zr, err := zip.NewReader(sp.zip, sp.zip.Size())
		if err != nil {
			return crypto.RequestURI{}, fmt.Errorf("%w: the zip archive: %w", errUpload, err)
		}
		if site, err = zipDir(zr, s.cfg.MaxSize); err != nil {
			return crypto.RequestURI{}, err
		}
	case len(sp.files) > 0:
		for name, f := range sp.files {
			site.Entries = append(site.Entries, insert.Entry{Path: name, Open: func() (io.ReadCloser, error) {
				return io.NopCloser(f.Reader()), nil
			}})
		}
	default:
		return crypto.RequestURI{}, fmt.Errorf("%w: no files were chosen", errUpload)
	}
	return insert.Directory(ctx, p, target, site, cfg)
}

// siteSpool keeps the files of a site's upload, sealed, until the site is inserted.
type siteSpool struct {
	dir   *private.Spool
	files map[string]*private.File // single files by name
	zip   *private.File            // the zip archive, once there is one
	left  int64                    // bytes the upload may still hold
}

// take spools one file part: one of several files ("files"), or a zip archive ("zip").
// Empty file inputs and unknown parts are passed over.
func (sp *siteSpool) take(part *multipart.Part) error {
	name := part.FileName()
	if name == "" {
		return nil
	}
	switch part.FormName() {
	case "files":
		if err := metadata.CheckName(name); err != nil {
			return fmt.Errorf("%w: file name %q: %w", errUpload, name, err)
		}
		if _, dup := sp.files[name]; dup {
			return fmt.Errorf("%w: two files called %q", errUpload, name)
		}
		if len(sp.files) == maxSiteFiles {
			return fmt.Errorf("%w: more than %d files", errUpload, maxSiteFiles)
		}
		f, err := sp.copy(part)
		if err != nil {
			return err
		}
		sp.files[name] = f
	case "zip":
		if sp.zip != nil {
			return fmt.Errorf("%w: one zip archive at a time", errUpload)
		}
		f, err := sp.copy(part)
		if err != nil {
			return err
		}
		sp.zip = f
	}
	return nil
}

// copy spools r into a new sealed file, within the bytes the upload may still hold.
func (sp *siteSpool) copy(r io.Reader) (*private.File, error) {
	f, err := sp.dir.Create()
	if err != nil {
		return nil, err
	}
	n, err := io.Copy(f, &sizeLimit{r: r, left: sp.left})
	sp.left -= n
	if err == nil {
		err = f.Finish()
	}
	if err != nil {
		f.Remove()
		return nil, err
	}
	return f, nil
}

func nextPart(mr *multipart.Reader) (*multipart.Part, error) {
	p, err := mr.NextPart()
	if err == io.EOF {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUpload, err)
	}
	return p, nil
}

// zipDir lists the files of a zip archive as a site (spec §20.4): every name must be a path
// of URI path components; folders, and the "__MACOSX" folder of resource forks, are passed
// over; if every file is inside one top folder, that folder is the site. The sizes the
// archive declares are checked against max before anything is read, and archive/zip fails a
// file whose content runs past its declared size.
func zipDir(zr *zip.Reader, max int64) (insert.Dir, error) {
	var names []string
	var files []*zip.File
	var total uint64
	for _, f := range zr.File {
		name := f.Name
		if strings.HasSuffix(name, "/") || name == "__MACOSX" || strings.HasPrefix(name, "__MACOSX/") {
			continue
		}
		if !f.Mode().IsRegular() {
			return insert.Dir{}, fmt.Errorf("%w: %q in the zip is not a regular file", errUpload, name)
		}
		if err := checkZipPath(name); err != nil {
			return insert.Dir{}, err
		}
		if len(files) == maxSiteFiles {
			return insert.Dir{}, fmt.Errorf("%w: more than %d files in the zip", errUpload, maxSiteFiles)
		}
		total += f.UncompressedSize64
		if total > uint64(max) {
			return insert.Dir{}, fmt.Errorf("%w: the zip holds more than the proxy inserts", fetch.ErrTooLarge)
		}
		names = append(names, name)
		files = append(files, f)
	}
	if len(files) == 0 {
		return insert.Dir{}, fmt.Errorf("%w: the zip holds no files", errUpload)
	}
	prefix := commonFolder(names)
	var dir insert.Dir
	for i, f := range files {
		dir.Entries = append(dir.Entries, insert.Entry{
			Path: strings.TrimPrefix(names[i], prefix),
			Open: func() (io.ReadCloser, error) { return f.Open() },
		})
	}
	return dir, nil
}

// checkZipPath accepts a relative '/'-separated path of URI path components.
func checkZipPath(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, `\`) {
		return fmt.Errorf("%w: %q in the zip is not a relative path", errUpload, name)
	}
	for c := range strings.SplitSeq(name, "/") {
		if err := metadata.CheckName(c); err != nil {
			return fmt.Errorf("%w: %q in the zip: %w", errUpload, name, err)
		}
	}
	return nil
}

// commonFolder returns "dir/" if every name lies inside the folder dir, else "".
func commonFolder(names []string) string {
	first, _, ok := strings.Cut(names[0], "/")
	if !ok {
		return ""
	}
	prefix := first + "/"
	for _, n := range names {
		if !strings.HasPrefix(n, prefix) {
			return ""
		}
	}
	return prefix
}
