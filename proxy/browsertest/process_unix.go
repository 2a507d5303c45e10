//go:build unix

package browsertest

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// lockInstall takes an exclusive lock on the file at path, waiting for it, and returns its
// release: test binaries of several packages may install Chromium at once.
func lockInstall(tb testing.TB, path string) (unlock func()) {
	tb.Helper()
	lock, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		lock.Close()
		tb.Fatal(err)
	}
	return func() {
		syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
		lock.Close()
	}
}

// ownGroup starts cmd in its own process group, so that its helper processes (renderers,
// the zygote) end with it before the test removes the profile.
func ownGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

// endGroup ends the group cmd leads, with SIGTERM and after 5 s SIGKILL, and waits for it.
func endGroup(cmd *exec.Cmd) {
	pgid := cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	}
	// Helpers may outlive the browser by a moment; the group is gone when no member is.
	for i := 0; i < 100 && syscall.Kill(-pgid, 0) == nil; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
}
