package datastore

import (
	"errors"
	"strings"
)

// NoSpace reports whether err is the disk's lack of space (or of the user's quota): the
// store's own ErrDiskFull, or the system's error for it anywhere in err's chain. bbolt
// formats some I/O errors with %s, which drops the errno from the chain, so the error's
// text is matched too.
func NoSpace(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrDiskFull) {
		return true
	}
	for _, e := range noSpaceErrnos {
		if errors.Is(err, e) || strings.Contains(err.Error(), e.Error()) {
			return true
		}
	}
	return false
}
