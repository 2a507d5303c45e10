//go:build linux

package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// The lab's programs are built once per process, without the race detector whatever the test
// binary has (the internet and the nodes are measured, not checked for races here), into a
// directory named like the lab's other files: Main removes it at the end, or the next lab
// does if the process was killed.
var binaries struct {
	sync.Mutex
	dir   string
	built map[string]string // package → binary
}

// Main runs the tests of a package that uses the lab (from its TestMain) and removes the
// programs built for them.
func Main(m *testing.M) int {
	code := m.Run()
	binaries.Lock()
	if binaries.dir != "" {
		os.RemoveAll(binaries.dir)
	}
	binaries.Unlock()
	return code
}

// Binary builds the package pkg (like "lethe/cmd/lethe") once per process and returns the
// program's path.
func Binary(tb testing.TB, pkg string) string {
	tb.Helper()
	binaries.Lock()
	defer binaries.Unlock()
	if bin, ok := binaries.built[pkg]; ok {
		return bin
	}
	if binaries.dir == "" {
		dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-0-bin-", prefix, os.Getpid()))
		if err != nil {
			tb.Fatal(err)
		}
		binaries.dir, binaries.built = dir, map[string]string{}
	}
	bin := filepath.Join(binaries.dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // a killed test leaves no build behind
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	binaries.built[pkg] = bin
	return bin
}
