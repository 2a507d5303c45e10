//go:build unix

package node

import (
	"os"
	"syscall"
)

// allocated is the room the disk has given the file, which may exceed its length: the
// rest of its last block. 0 where the system does not say.
func allocated(fi os.FileInfo) int64 {
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		return sys.Blocks * 512 // st_blocks counts 512-byte units
	}
	return 0
}
