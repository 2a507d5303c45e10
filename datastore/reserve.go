package datastore

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// DefaultReserveBytes is Options.ReserveBytes's default.
const DefaultReserveBytes = 2 << 20

// The reserve (spec §8.4) is a file of zeros beside the store, path + ".reserve", written
// when the store opens. The store gives it up the first time the disk is full and evicting
// from the cache cannot commit for want of room: bbolt needs free pages to delete as much as
// to add, and on a disk that filled up from outside there may be none. Deleting the reserve
// lets one eviction commit; the pages it frees carry the cache's turnover from then on. The
// reserve is written again when the disk has room for it (probeRoom), or at the next Open.
// It holds nothing but zeros, so it tells an operator nothing.
//
// A full disk also shuts the store area: from the first write that finds the disk full, a
// put into the store area that would take room (a new record, or a cached one moved into the
// store) is refused with ErrDiskFull and changes nothing, so that the room the cache frees on
// the full disk, by its evictions or by giving up the reserve, goes to the cache alone.
// Without that, blocks to be stored took it block by block, and a node whose disk filled
// could be left with its cache emptied (its blocks evicted for room or moved into the store),
// its reserve given up and no room to cache anything again. While the area is shut the
// writer looks for room before a commit, at most every roomProbeEvery, and opens the area
// again once it finds some.

// reservePath is where the store at path keeps its reserve.
func reservePath(path string) string { return path + ".reserve" }

// roomProbePath is the file the store at path writes, and removes, to see whether a full disk
// has room again (probeRoom).
func roomProbePath(path string) string { return path + ".room" }

// makeReserve writes the reserve file, unless one of its size is there already. A disk
// without room for it gets none (and the store runs without, as before it had one); that is
// logged, not an error.
func (s *Store) makeReserve() {
	if s.reserveBytes <= 0 {
		return
	}
	path := reservePath(s.path)
	if fi, err := os.Stat(path); err == nil && fi.Size() == s.reserveBytes {
		s.reserve = path
		return
	}
	if err := s.writeReserve(); err != nil {
		s.log.Warn("datastore: no room for the reserve beside the store; a full disk may stop the cache turning over", "path", path, "bytes", s.reserveBytes, "err", err)
	}
}

// writeReserve writes the reserve file, or removes what it wrote if the disk has no room.
func (s *Store) writeReserve() error {
	path := reservePath(s.path)
	if err := writeZeros(path, s.reserveBytes); err != nil {
		os.Remove(path)
		return err
	}
	s.reserve = path
	return nil
}

// roomProbeEvery is how often, at most, a store whose store area is shut writes a file to
// see whether the disk has room again.
var roomProbeEvery = 10 * time.Second // a variable for the tests

// errStoreShut answers a put the store area cannot take while the disk is full.
var errStoreShut = fmt.Errorf("%w: the store area takes no more blocks until the disk has room", ErrDiskFull)

// shutStore shuts the store area: a write found the disk full. The next put into it goes to
// the writer, which looks for room first (probeRoom). Only the writer calls it.
func (s *Store) shutStore() {
	if s.shutUntil.Load() == 0 {
		s.shutUntil.Store(time.Now().UnixNano())
		s.log.Warn("datastore: disk full; the store area takes no more blocks until there is room, the cache turns over in the room it has", "path", s.path)
	}
}

// probeRoom opens the store area again, and gives the cache back its own bound, if the disk
// has room: room for the reserve, if the store keeps one and gave it up (the reserve is then
// kept), or else for a probe file of the reserve's size (2 MiB if the store keeps none),
// which is removed at once. Writing is the test, not the file system's count of free blocks,
// so that a user's quota counts too. It looks at most every roomProbeEvery; until the next
// look, puts into the store area are refused before they reach the writer. Only the writer
// calls it, before a commit.
func (s *Store) probeRoom() {
	now := time.Now()
	if until := s.shutUntil.Load(); until == 0 || now.UnixNano() < until {
		return
	}
	s.shutUntil.Store(now.Add(roomProbeEvery).UnixNano())
	var err error
	if s.reserveBytes > 0 && s.reserve == "" {
		err = s.writeReserve()
	} else {
		probe := roomProbePath(s.path)
		err = writeZeros(probe, max(s.reserveBytes, DefaultReserveBytes))
		err = errors.Join(err, os.Remove(probe))
	}
	if err != nil {
		return
	}
	s.shutUntil.Store(0)
	s.roomBound = 0
	s.log.Info("datastore: the disk has room again; the store area takes blocks, the cache its own bound", "path", s.path)
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
