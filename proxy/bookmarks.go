package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"lethe/crypto"
	"lethe/proxy/filter"
)

const (
	bookmarksFile = "bookmarks.json"
	maxBookmarks  = 500
	maxTitle      = 200 // bytes of a bookmark's title
)

// errBookmark: a bookmark cannot be added as asked; the wrapping error says why.
var errBookmark = errors.New("bookmark refused")

// bookmark is a site or file the user keeps on the home page.
type bookmark struct {
	Title string            `json:"title"`
	URI   crypto.RequestURI `json:"uri"`
}

// bookmarks are kept in bookmarks.json in the state directory, or in memory without one.
type bookmarks struct {
	path string // "" keeps them in memory

	mu    sync.Mutex
	marks []bookmark // guarded by mu
}

func loadBookmarks(stateDir string) (*bookmarks, error) {
	b := &bookmarks{}
	if stateDir == "" {
		return b, nil
	}
	b.path = filepath.Join(stateDir, bookmarksFile)
	data, err := os.ReadFile(b.path)
	if errors.Is(err, fs.ErrNotExist) {
		return b, nil
	}
	if err != nil {
		return nil, fmt.Errorf("proxy: read bookmarks: %w", err)
	}
	if err := json.Unmarshal(data, &b.marks); err != nil {
		return nil, fmt.Errorf("proxy: %s is damaged (%w); move it away to start with no bookmarks", b.path, err)
	}
	return b, nil
}

func (b *bookmarks) list() []bookmark {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.marks)
}

// add keeps a bookmark of uri (a site: its path is dropped), replacing one of the same site.
func (b *bookmarks) add(title string, uri crypto.RequestURI) error {
	title = strings.TrimSpace(title)
	if len(title) > maxTitle || !utf8.ValidString(title) {
		return fmt.Errorf("%w: the title is longer than %d bytes or not text", errBookmark, maxTitle)
	}
	uri = siteOf(uri)
	if title == "" {
		title = defaultTitle(uri)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	marks := slices.DeleteFunc(slices.Clone(b.marks), func(m bookmark) bool { return sameSite(m.URI, uri) })
	if len(marks) >= maxBookmarks {
		return fmt.Errorf("%w: there are already %d bookmarks", errBookmark, maxBookmarks)
	}
	marks = append(marks, bookmark{Title: title, URI: uri})
	if err := b.saveLocked(marks); err != nil {
		return err
	}
	b.marks = marks
	return nil
}

func (b *bookmarks) remove(uri crypto.RequestURI) error {
	uri = siteOf(uri)
	b.mu.Lock()
	defer b.mu.Unlock()
	marks := slices.DeleteFunc(slices.Clone(b.marks), func(m bookmark) bool { return sameSite(m.URI, uri) })
	if err := b.saveLocked(marks); err != nil {
		return err
	}
	b.marks = marks
	return nil
}

func (b *bookmarks) saveLocked(marks []bookmark) error {
	if b.path == "" {
		return nil
	}
	data, err := json.MarshalIndent(marks, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(b.path, data); err != nil {
		return fmt.Errorf("proxy: save bookmarks: %w", err)
	}
	return nil
}

// siteOf is what a bookmark keeps of a URI: a site's key at its edition, with no path.
func siteOf(u crypto.RequestURI) crypto.RequestURI { return u.WithPath("") }

// sameSite reports whether two URIs name the same site, whatever the edition.
func sameSite(a, b crypto.RequestURI) bool {
	if a.Type == crypto.USK && b.Type == crypto.USK {
		return a.WithEdition(0) == b.WithEdition(0)
	}
	return a == b
}

func defaultTitle(u crypto.RequestURI) string {
	switch u.Type {
	case crypto.USK:
		return u.Site
	case crypto.SSK:
		return u.DocName
	case crypto.KSK:
		return u.Keyword
	}
	s := u.String()
	return s[:min(len(s), 16)] + "…"
}

// bookmarkView is a bookmark as the home page shows it: opened at the newest edition known.
type bookmarkView struct {
	Title, URI, Link string
	Edition          int64
	Newer            bool // a newer edition than the one bookmarked was found
}

func (s *Server) bookmarkViews() []bookmarkView {
	var out []bookmarkView
	for _, m := range s.marks.list() {
		u := m.URI
		v := bookmarkView{Title: m.Title, URI: u.String(), Edition: -1}
		if u.Type == crypto.USK {
			v.Edition = u.Edition
			if n, ok := s.editions.Latest(u); ok && n > u.Edition {
				u = u.WithEdition(n)
				v.Edition, v.Newer = n, true
			}
		}
		v.Link = filter.Path(u.WithPath("/"))
		out = append(out, v)
	}
	return out
}

// refreshBookmarks looks for the newest editions of bookmarked sites now and then, until the
// proxy closes, so that the home page links to them.
func (s *Server) refreshBookmarks() {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-timer.C:
		}
		for _, m := range s.marks.list() {
			if m.URI.Type != crypto.USK {
				continue
			}
			if done := s.searchEditions(m.URI); done != nil {
				select {
				case <-done:
				case <-s.ctx.Done():
					return
				}
			}
		}
		timer.Reset(bookmarkRefresh)
	}
}
