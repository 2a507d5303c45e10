//go:build unix

package main

import (
	"os"
	"syscall"
)

// isJournal reports whether f is the stream JOURNAL_STREAM names (journalMatches).
func isJournal(f *os.File, stream string) bool {
	if stream == "" {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && journalMatches(stream, uint64(st.Dev), uint64(st.Ino))
}
