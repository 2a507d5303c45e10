//go:build linux && !arm

package insert

import (
	"os"
	"syscall"
)

// syncFileRangeWrite is SYNC_FILE_RANGE_WRITE: start writing the dirty pages, wait for none.
const syncFileRangeWrite = 2

// startWriteback asks the kernel to start writing f's dirty pages to the disk without
// waiting for them (sync_file_range), so that the fsync that follows finds little left to
// write. It is advice: an error changes nothing, since the fsync writes whatever is left.
// Unlike an fsync it commits no journal and holds up no writer of the file, which on this
// project's machine made a background fsync cost more than it saved (docs/performance.md,
// "The key first").
func startWriteback(f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		syscall.SyncFileRange(int(fd), 0, 0, syncFileRangeWrite)
	})
}
