//go:build windows

package datastore

import "syscall"

// noSpaceErrnos are the system's errors for a full disk: Windows' own codes from winerror.h
// (ERROR_HANDLE_DISK_FULL, ERROR_DISK_FULL), which syscall does not name, and syscall's
// ENOSPC for errors Go makes itself.
var noSpaceErrnos = []syscall.Errno{39, 112, syscall.ENOSPC}
