//go:build linux

package lab

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// tools are the commands the lab runs and the Debian packages that bring them.
var tools = []struct{ command, pkg string }{
	{"ip", "iproute2"},
	{"tc", "iproute2"},
	{"nft", "nftables"},
	{"miniupnpd", "miniupnpd-nftables"},
	{"sysctl", "procps"},
}

// install installs the tools the lab needs with apt-get where they are missing, and skips
// the test, saying what to install, where it cannot.
func install(tb testing.TB) {
	tb.Helper()
	missing := missingPackages()
	if len(missing) == 0 {
		return
	}
	// Test binaries of several packages may get here at once: one installs while the others
	// wait, then find what it installed.
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "lethe-lab-install.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		tb.Fatal(err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if missing = missingPackages(); len(missing) == 0 {
		return
	}
	tb.Logf("the lab needs %v: installing with apt-get", missing)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, args := range [][]string{{"update", "-q"}, append([]string{"install", "-y", "-q", "--no-install-recommends"}, missing...)} {
		// A lock held by another apt is waited for, not failed on.
		cmd := exec.CommandContext(ctx, "apt-get", append([]string{"-o", "DPkg::Lock::Timeout=300"}, args...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Skipf("the lab needs %v and apt-get %s failed (%v); install them with apt-get install -y %v:\n%s",
				missing, args[0], err, missing, out[max(0, len(out)-2000):])
		}
	}
	if missing = missingPackages(); len(missing) != 0 {
		tb.Skipf("apt-get installed %v, but their commands are still missing", missing)
	}
}

func missingPackages() []string {
	var missing []string
	seen := map[string]bool{}
	for _, t := range tools {
		if _, err := exec.LookPath(t.command); err != nil && !seen[t.pkg] {
			missing = append(missing, t.pkg)
			seen[t.pkg] = true
		}
	}
	return missing
}
