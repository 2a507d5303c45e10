//go:build unix

package datastore

import "syscall"

// noSpaceErrnos are the system's errors for a full disk: no room left, or the user's quota
// used up.
var noSpaceErrnos = []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT}
