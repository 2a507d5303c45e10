//go:build !unix

package browsertest

import (
	"os/exec"
	"testing"
)

// lockInstall: the browser tests install Chromium with Debian's apt-get, which only Unix
// has; elsewhere they skip.
func lockInstall(tb testing.TB, path string) (unlock func()) {
	tb.Helper()
	tb.Skip("the browser tests install and run Debian's Chromium, on Unix only")
	return func() {}
}

// ownGroup: without process groups the browser is ended alone.
func ownGroup(cmd *exec.Cmd) {}

// endGroup ends the browser and waits for it.
func endGroup(cmd *exec.Cmd) {
	cmd.Process.Kill()
	cmd.Wait()
}
