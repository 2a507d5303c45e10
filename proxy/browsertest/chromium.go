package browsertest

// This file finds, installs and runs headless Chromium.

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromium is a headless Chromium run by a test.
type chromium struct {
	cmd   *exec.Cmd
	dir   string // its profile
	wsURL string
}

// chromiumFlags keep the browser to the test: headless, no background traffic of its own,
// no QUIC, a fresh profile, and a host resolver that resolves nothing but loopback, so that
// even a page that escaped the filter could not send a packet off this machine.
var chromiumFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--disable-default-apps", "--disable-extensions", "--disable-breakpad", "--mute-audio",
	"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
	"--remote-debugging-port=0", "--remote-allow-origins=http://127.0.0.1",
	"--window-size=1200,900",
}

// findChromium returns the path of Debian's chromium, installing it with apt-get if it is
// missing and the test runs as root. It skips the test, saying why, where it can do neither.
func findChromium(tb testing.TB) string {
	tb.Helper()
	if p, ok := lookChromium(); ok {
		return p
	}
	if os.Geteuid() != 0 {
		tb.Skip("chromium is not installed and the test does not run as root to install it: apt-get install -y chromium")
	}
	// Test binaries of several packages may get here at once (go test runs packages in
	// parallel): one installs while the others wait, then finds what it installed.
	unlock := lockInstall(tb, filepath.Join(os.TempDir(), "lethe-chromium-install.lock"))
	defer unlock()
	if p, ok := lookChromium(); ok {
		return p
	}
	tb.Log("chromium is not installed: installing it with apt-get")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	for _, args := range [][]string{{"update", "-q"}, {"install", "-y", "-q", "--no-install-recommends", "chromium"}} {
		// A lock held by another apt (an unattended upgrade) is waited for, not failed on.
		cmd := exec.CommandContext(ctx, "apt-get", append([]string{"-o", "DPkg::Lock::Timeout=300"}, args...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Skipf("chromium is not installed and apt-get %s failed (%v); install it with apt-get install -y chromium:\n%s",
				args[0], err, out[max(0, len(out)-2000):])
		}
	}
	p, ok := lookChromium()
	if !ok {
		tb.Skip("apt-get installed chromium, but it is not on PATH")
	}
	return p
}

func lookChromium() (string, bool) {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	return "", false
}

// startChromium runs the browser and returns it once its DevTools endpoint is up.
func startChromium(tb testing.TB, bin string) *chromium {
	tb.Helper()
	dir := tb.TempDir()
	args := append(append([]string{}, chromiumFlags...), "--user-data-dir="+dir, "about:blank")
	cmd := exec.Command(bin, args...)
	stderr, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	ownGroup(cmd)
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start chromium: %v", err)
	}
	c := &chromium{cmd: cmd, dir: dir}
	tb.Cleanup(func() {
		endGroup(cmd)
		stderr.Close()
	})
	// Chromium writes its port and the browser's endpoint to DevToolsActivePort.
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "DevToolsActivePort"))
		if err == nil {
			sc := bufio.NewScanner(strings.NewReader(string(b)))
			var lines []string
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
			if len(lines) >= 2 {
				c.wsURL = "ws://127.0.0.1:" + lines[0] + lines[1]
				return c
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "stderr.log"))
			tb.Fatalf("chromium did not open its DevTools port within 30s:\n%s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
