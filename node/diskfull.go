package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"time"

	"lethe/datastore"
)

// diskFullFor is how long after a write last found the disk full the node still reports it
// full. Writes that fit in room the store freed (cache evictions) succeed in between, so
// "the last write succeeded" would flap while the store can still not grow.
const diskFullFor = time.Minute

// diskFull reports, from the store's figures, whether a write found the disk full within
// diskFullFor of now, whether the cache then made room for it or it was refused.
func diskFull(ds datastore.Stats, now time.Time) bool {
	return !ds.DiskFullAt.IsZero() && now.Sub(ds.DiskFullAt) < diskFullFor
}

// errNoRoom: the file is too small to take the data in place.
var errNoRoom = errors.New("the data is longer than the file it would replace")

// writeStatusFull keeps the status file current when the disk is full and no new file can be
// made (writeFileAtomic needs one): it overwrites the existing file in place, without the
// bandwidth history if the whole status would not fit, so that `lethe status` goes on showing
// the node, and that its disk is full, rather than a node gone silent.
func (n *Node) writeStatusFull(st Status) error {
	err := errNoRoom
	for _, s := range []Status{st, withoutHistory(st)} {
		b, merr := json.MarshalIndent(s, "", "  ")
		if merr != nil {
			return merr
		}
		if err = rewriteInPlace(n.path(statusFile), append(b, '\n')); !errors.Is(err, errNoRoom) {
			return err
		}
	}
	return err
}

// withoutHistory is a status trimmed to fit: no bandwidth history, the last few errors.
func withoutHistory(st Status) Status {
	st.Bandwidth = nil
	st.Errors = st.Errors[max(0, len(st.Errors)-3):]
	return st
}

// rewriteInPlace overwrites an existing file with data padded with spaces (which JSON
// ignores) to the file's length, so that the disk needs no new block for it: data may be as
// long as the blocks the file already has. A reader may see the file half rewritten;
// ReadStatus reads again when it does not parse.
func rewriteInPlace(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	room := max(fi.Size(), allocated(fi))
	if int64(len(data)) > room {
		return errNoRoom
	}
	data = append(data, bytes.Repeat([]byte{' '}, max(0, int(fi.Size())-len(data)))...)
	if _, err := f.WriteAt(data, 0); err != nil {
		return err
	}
	return f.Sync()
}
