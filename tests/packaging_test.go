package tests

import (
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The service files of packaging/ (README "Running a node").

// maxExposure is the highest overall exposure `systemd-analyze security` may give the unit
// (0 is a service that can do nothing, 10 one that can do anything as root).
const maxExposure = 2.0

// TestSystemdUnit: packaging/systemd/lethe.service passes `systemd-analyze verify` without a
// word, and `systemd-analyze security` rates its hardening at most maxExposure. systemd-analyze
// is installed with apt-get where it is missing and the test runs as root.
func TestSystemdUnit(t *testing.T) {
	analyze := findSystemdAnalyze(t)
	unit, err := os.ReadFile(filepath.Join(root, "packaging", "systemd", "lethe.service"))
	if err != nil {
		t.Fatal(err)
	}
	// verify checks that ExecStart's program exists and is executable: point it at this
	// test's own binary, where the unit has /usr/local/bin/lethe.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/lethe node ") {
		t.Fatalf("the unit does not start /usr/local/bin/lethe node:\n%s", unit)
	}
	path := filepath.Join(t.TempDir(), "lethe.service")
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/lethe", self)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.CommandContext(ctx, analyze, "security", "--offline=true", path).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for lethe\.service: ([0-9.]+)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	if level, _ := strconv.ParseFloat(string(m[1]), 64); level > maxExposure {
		t.Errorf("the unit's exposure is %.1f, more than %.1f:\n%s", level, maxExposure, out)
	}
	for _, want := range []string{"DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict", "StateDirectory=lethe", "--log-format journal"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("the unit lacks %s", want)
		}
	}
}

// findSystemdAnalyze returns systemd-analyze, installing Debian's systemd package if it is
// missing and the test runs as root; it skips the test, saying why, where it can do neither.
func findSystemdAnalyze(tb testing.TB) string {
	tb.Helper()
	if p, err := exec.LookPath("systemd-analyze"); err == nil {
		return p
	}
	if _, err := exec.LookPath("apt-get"); err != nil || os.Geteuid() != 0 {
		tb.Skip("systemd-analyze is not installed, and cannot be here (apt-get as root): install systemd to check packaging/systemd/lethe.service")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, args := range [][]string{{"update", "-q"}, {"install", "-y", "-q", "--no-install-recommends", "systemd"}} {
		cmd := exec.CommandContext(ctx, "apt-get", append([]string{"-o", "DPkg::Lock::Timeout=300"}, args...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Skipf("systemd-analyze is not installed and apt-get %s failed (%v): install systemd to check the unit:\n%s", args[0], err, out[max(0, len(out)-2000):])
		}
	}
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		tb.Skip("apt-get installed systemd, but systemd-analyze is not on PATH")
	}
	return p
}

// TestLaunchdPlist: packaging/launchd/org.lethe.node.plist is a well-formed property list
// that runs `lethe node` with its logs and data where the README says.
func TestLaunchdPlist(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "packaging", "launchd", "org.lethe.node.plist"))
	if err != nil {
		t.Fatal(err)
	}
	plist, err := parsePlist(b)
	if err != nil {
		t.Fatalf("the plist does not parse: %v", err)
	}
	if plist["Label"] != "org.lethe.node" {
		t.Errorf("Label %q", plist["Label"])
	}
	args := plist["ProgramArguments"]
	if !strings.HasPrefix(args, "/usr/local/bin/lethe node --dir ") {
		t.Errorf("ProgramArguments %q", args)
	}
	for _, k := range []string{"RunAtLoad", "KeepAlive", "StandardErrorPath", "ExitTimeOut"} {
		if _, ok := plist[k]; !ok {
			t.Errorf("the plist lacks %s", k)
		}
	}
}

// parsePlist reads the top dictionary of an XML property list: each key with its value as
// text (an array's strings joined by spaces, a boolean as true or false).
func parsePlist(b []byte) (map[string]string, error) {
	var doc struct {
		Dict struct {
			Items []struct {
				XMLName xml.Name
				Text    string   `xml:",chardata"`
				Strings []string `xml:"string"`
			} `xml:",any"`
		} `xml:"dict"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	out := map[string]string{}
	items := doc.Dict.Items
	for i := 0; i+1 < len(items); i += 2 {
		k, v := items[i], items[i+1]
		if k.XMLName.Local != "key" {
			return nil, fmt.Errorf("item %d is a %s, not a key", i, k.XMLName.Local)
		}
		switch v.XMLName.Local {
		case "array":
			out[k.Text] = strings.Join(v.Strings, " ")
		case "true", "false":
			out[k.Text] = v.XMLName.Local
		default:
			out[k.Text] = strings.TrimSpace(v.Text)
		}
	}
	return out, nil
}
