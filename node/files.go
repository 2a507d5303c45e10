package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"lethe/crypto"
	"lethe/wire"
)

// The files of a data directory (spec §19.2).
const (
	identityFile = "identity"      // the node's identity key (transport.LoadOrCreateIdentity)
	storeFile    = "store.db"      // the datastore
	secretFile   = "insert-secret" // the insert secret (insertKeys)
	locationFile = "location"      // the node's location on the circle
	friendsFile  = "friends"       // darknet peers: noderefs the user added
	seedsFile    = "seeds"         // opennet seed nodes' noderefs
	statusFile   = "status.json"   // the running node's status, rewritten every few seconds
	fcpDir       = "fcp"           // the client protocol's persistent queue
	proxyDir     = "proxy"         // the browsing proxy's bookmarks, secret and downloads
	tmpDir       = "tmp"           // spooled insert data
	uploadsDir   = "uploads"       // block logs of inserts whose URI is out and whose upload is not done
	downloadsDir = "downloads"     // the blocks of fetches not finished, for resuming them
)

// FriendsFile is the file in a data directory that lists the node's friends (darknet peers).
func FriendsFile(dir string) string { return filepath.Join(dir, friendsFile) }

// StorePath is the datastore's file in a data directory.
func StorePath(dir string) string { return filepath.Join(dir, storeFile) }

// SeedsFile is the file in a data directory that lists the opennet seed nodes.
func SeedsFile(dir string) string { return filepath.Join(dir, seedsFile) }

// maxNodeRefsFile bounds a friends or seeds file: 4096 noderefs of the largest pasted size.
const maxNodeRefsFile = 4096 * 3600

const nodeRefHeader = "lethe-noderef v1"

// ParseNodeRefs reads a list of noderefs as a friends or seeds file holds them: noderefs one
// after the other, each starting with its "lethe-noderef v1" line, with blank lines and lines
// starting with '#' anywhere between them ignored. A noderef that does not parse fails the
// whole list, with its position; one listed twice is kept once.
func ParseNodeRefs(text string) ([]*wire.NodeRef, error) {
	if len(text) > maxNodeRefsFile {
		return nil, fmt.Errorf("noderef list is %d bytes, at most %d", len(text), maxNodeRefsFile)
	}
	var (
		refs  []*wire.NodeRef
		cur   []string
		start int
		seen  = map[crypto.NodeID]bool{}
	)
	flush := func() error {
		if cur == nil {
			return nil
		}
		ref, err := wire.ParseNodeRef(strings.Join(cur, "\n") + "\n")
		if err != nil {
			return fmt.Errorf("noderef %d (line %d): %w", len(refs)+1, start, err)
		}
		if !seen[ref.ID()] {
			seen[ref.ID()] = true
			refs = append(refs, ref)
		}
		cur = nil
		return nil
	}
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
			continue
		case trimmed == nodeRefHeader:
			if err := flush(); err != nil {
				return nil, err
			}
			cur, start = []string{trimmed}, i+1
		case cur == nil:
			return nil, fmt.Errorf("line %d: %q is not part of a noderef (each starts with %q)", i+1, truncate(trimmed, 40), nodeRefHeader)
		default:
			cur = append(cur, trimmed)
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return refs, nil
}

// FormatNodeRefs writes a list of noderefs as ParseNodeRefs reads it.
func FormatNodeRefs(refs []*wire.NodeRef) string {
	var b strings.Builder
	for i, r := range refs {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(r.Text())
	}
	return b.String()
}

// ReadNodeRefs reads a friends or seeds file. A missing file is an empty list.
func ReadNodeRefs(path string) ([]*wire.NodeRef, error) {
	b, err := readBounded(path, maxNodeRefsFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	refs, err := ParseNodeRefs(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return refs, nil
}

// WriteNodeRefs replaces a friends or seeds file atomically.
func WriteNodeRefs(path string, refs []*wire.NodeRef) error {
	return writeFileAtomic(path, []byte(FormatNodeRefs(refs)), 0o600)
}

// readBounded reads a file of at most limit bytes.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, at most %d", path, st.Size(), limit)
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil && st.Size() > 0 {
		return nil, err
	}
	return b, nil
}

// writeFileAtomic writes a file so that a crash leaves the old one or the new one: a
// temporary file in the same directory, synced, renamed over the old.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// readLocation reads the location file; ok is false if there is none.
func readLocation(path string) (loc crypto.Location, ok bool, err error) {
	b, err := readBounded(path, 64)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil || !crypto.Location(f).Valid() {
		return 0, false, fmt.Errorf("%s: %q is not a location in [0,1)", path, truncate(strings.TrimSpace(string(b)), 32))
	}
	return crypto.Location(f), true, nil
}

func writeLocation(path string, loc crypto.Location) error {
	return writeFileAtomic(path, []byte(strconv.FormatFloat(float64(loc), 'g', -1, 64)+"\n"), 0o600)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
