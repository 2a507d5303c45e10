//go:build linux

package lab

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// removeStale removes what labs of processes that no longer run left behind (a run killed
// before its cleanups): their namespaces, with whatever still runs in them, and their
// directories. Labs of running processes are left alone.
func removeStale(tb testing.TB) {
	tb.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		tb.Fatalf("ip netns list: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && stale(f[0]) {
			tb.Logf("removing namespace %s, left by a lab that no longer runs", f[0])
			removeNamespace(f[0])
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"*"))
	for _, d := range dirs {
		if stale(filepath.Base(d)) {
			os.RemoveAll(d)
		}
	}
}

// stale reports whether name is lab-PID-… for a PID that no longer runs.
func stale(name string) bool {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return false
	}
	pidText, _, _ := strings.Cut(rest, "-")
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return false
	}
	return syscall.Kill(pid, 0) == syscall.ESRCH
}
