package datastore

import (
	"errors"
	"os"
)

// DefaultReserveBytes is Options.ReserveBytes's default.
const DefaultReserveBytes = 2 << 20

// The reserve (spec §8.4) is a file of zeros beside the store, path + ".reserve", written
// when the store opens. The store gives it up the first time the disk is full and evicting
// from the cache cannot commit for want of room: bbolt needs free pages to delete as much as
// to add, and on a disk that filled up from outside there may be none. Deleting the reserve
// lets one eviction commit; the pages it frees carry the cache's turnover from then on. The
// reserve is written again at the next Open, if the disk has room. It holds nothing but
// zeros, so it tells an operator nothing.

// reservePath is where the store at path keeps its reserve.
func reservePath(path string) string { return path + ".reserve" }

// makeReserve writes the reserve file of n bytes, unless one of that size is there already.
// A disk without room for it gets none (and the store runs without, as before it had one);
// that is logged, not an error.
func (s *Store) makeReserve(n int64) {
	if n <= 0 {
		return
	}
	path := reservePath(s.path)
	if fi, err := os.Stat(path); err == nil && fi.Size() == n {
		s.reserve = path
		return
	}
	if err := writeZeros(path, n); err != nil {
		os.Remove(path)
		s.log.Warn("datastore: no room for the reserve beside the store; a full disk may stop the cache turning over", "path", path, "bytes", n, "err", err)
		return
	}
	s.reserve = path
}

// writeZeros writes a file of n zero bytes: real blocks, not a sparse file, since the point is
// to hold the room. The file system takes the room at the write; it is not synced, since a
// reserve lost in a crash is only written again at the next Open (its size is checked).
func writeZeros(path string, n int64) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	for left := n; left > 0 && err == nil; left -= int64(len(buf)) {
		_, err = f.Write(buf[:min(int64(len(buf)), left)])
	}
	return errors.Join(err, f.Close())
}

// dropReserve deletes the reserve file, if the store has one, and reports whether it did.
// Only the writer goroutine calls it.
func (s *Store) dropReserve() bool {
	if s.reserve == "" {
		return false
	}
	err := os.Remove(s.reserve)
	s.log.Warn("datastore: disk full; giving up the reserve to make room", "path", s.reserve, "err", err)
	s.reserve = ""
	return err == nil
}
