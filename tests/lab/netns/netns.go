//go:build linux

// Package netns runs code inside a Linux network namespace, for the network lab (tests/lab):
// sockets and TUN devices made inside belong to the namespace and keep working from anywhere
// in the process once made.
package netns

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs f on a thread that is inside the network namespace whose file is path (like
// /run/netns/NAME), then brings the thread back. The thread is locked to the goroutine
// meanwhile; if it cannot come back it is not given back to the runtime, and ends with the
// goroutine (the runtime never starts new threads from a locked one, so the namespace does
// not leak into others).
func Do(path string, f func() error) error {
	target, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open network namespace: %w", err)
	}
	defer target.Close()
	runtime.LockOSThread()
	home, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open this thread's network namespace: %w", err)
	}
	defer home.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter network namespace %s: %w", path, err)
	}
	ferr := f()
	if err := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("leave network namespace %s: %w", path, err) // the thread stays locked and dies
	}
	runtime.UnlockOSThread()
	return ferr
}
