package tests

import (
	"bufio"
	"bytes"
	"go/format"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The project's checks beyond its tests, so that one command, `go test -race ./...` (the
// README's, and what .ci/run runs), does everything CI does: formatting, vet, and a short run
// of every fuzz target. `go test -short ./...` skips the fuzz runs.

// root is the module's directory; the tests of this package run in root/tests.
const root = ".."

// TestGofmt: every Go file is formatted as gofmt would write it.
func TestGofmt(t *testing.T) {
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		formatted, err := format.Source(src)
		if err != nil {
			t.Errorf("%s does not parse: %v", path, err)
		} else if !bytes.Equal(src, formatted) {
			t.Errorf("%s needs gofmt -w", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestVet: go vet finds nothing.
func TestVet(t *testing.T) {
	if out, err := goCommand(t, "vet", "./...").CombinedOutput(); err != nil {
		t.Errorf("go vet ./...: %v\n%s", err, out)
	}
}

// platforms are the systems Lethe is built for (README "Platforms"). The one the tests run
// on is checked by TestVet and by building the tests; the others are cross-compiled.
var platforms = []struct{ goos, goarch string }{
	{"linux", "amd64"}, {"linux", "arm64"}, {"darwin", "arm64"}, {"windows", "amd64"}, {"freebsd", "amd64"},
}

// TestPlatforms: every package, tests included, passes go vet on every platform, and the
// lethe command builds for each, so that code only one system has stays behind build tags.
// Cross-compiling needs no C toolchain (cgo off) and takes seconds once the build cache has
// the standard library for the platform.
func TestPlatforms(t *testing.T) {
	for _, p := range platforms {
		t.Run(p.goos+"-"+p.goarch, func(t *testing.T) {
			if p.goos == runtime.GOOS && p.goarch == runtime.GOARCH {
				t.Skip("the platform the tests run on: TestVet and the build of the tests cover it")
			}
			t.Parallel() // at most -parallel (GOMAXPROCS) at once
			env := append(os.Environ(), "GOOS="+p.goos, "GOARCH="+p.goarch, "CGO_ENABLED=0")
			vet := goCommand(t, "vet", "./...")
			vet.Env = env
			if out, err := vet.CombinedOutput(); err != nil {
				t.Errorf("GOOS=%s GOARCH=%s go vet ./...: %v\n%s", p.goos, p.goarch, err, out)
			}
			build := goCommand(t, "build", "-o", filepath.Join(t.TempDir(), "lethe"), "./cmd/lethe")
			build.Env = env
			if out, err := build.CombinedOutput(); err != nil {
				t.Errorf("GOOS=%s GOARCH=%s go build ./cmd/lethe: %v\n%s", p.goos, p.goarch, err, out)
			}
		})
	}
}

// TestFuzzTargets runs every fuzz target of every package for a short while (2000 inputs
// each, or LETHE_FUZZTIME, such as 5m: docs/performance.md records a run of 5 minutes each). Targets are found by
// name, so new ones join without an edit here. A crasher is written to its package's
// testdata/fuzz and fails the run.
func TestFuzzTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("fuzz targets are run without -short")
	}
	fuzztime := os.Getenv("LETHE_FUZZTIME")
	if fuzztime == "" {
		// A count, not a duration: these runs share the machine with every other package's
		// tests, and a run bounded by time can end with the engine's own "context deadline
		// exceeded" when its workers are slow to stop.
		fuzztime = "2000x"
	}
	list, err := goCommand(t, "test", "-list", "^Fuzz", "./...").Output()
	if err != nil {
		t.Fatalf("go test -list: %v", err)
	}
	// go test -list prints each package's names, then its "ok" line.
	type target struct{ pkg, name string }
	var targets []target
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(list))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 1 && strings.HasPrefix(f[0], "Fuzz"):
			names = append(names, f[0])
		case len(f) >= 2 && f[0] == "ok":
			for _, n := range names {
				targets = append(targets, target{f[1], n})
			}
			names = nil
		}
	}
	if len(targets) == 0 {
		t.Fatalf("no fuzz targets found in:\n%s", list)
	}
	for _, tg := range targets {
		t.Run(strings.TrimPrefix(tg.pkg, "lethe/")+"/"+tg.name, func(t *testing.T) {
			run := func() ([]byte, error) {
				return goCommand(t, "test", tg.pkg, "-run", "^$", "-fuzz", "^"+tg.name+"$", "-fuzztime", fuzztime, "-fuzzminimizetime", "2s").CombinedOutput()
			}
			out, err := run()
			if err != nil && !bytes.Contains(out, []byte("Failing input written")) {
				// Every finding writes its input to testdata/fuzz. A failure without one is
				// the fuzzing engine's own (on a loaded machine it can stop a worker at the
				// deadline and report "context deadline exceeded"): run the target again.
				t.Logf("%s %s failed without a failing input; once more:\n%s", tg.pkg, tg.name, out)
				out, err = run()
			}
			if err != nil {
				t.Errorf("%s %s: %v\n%s", tg.pkg, tg.name, err, out)
			}
		})
	}
}

// goCommand is the go command of this toolchain, run in the module's directory.
func goCommand(tb testing.TB, args ...string) *exec.Cmd {
	tb.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		tb.Fatalf("the go command is needed for this check: %v", err)
	}
	cmd := exec.Command(goBin, args...)
	cmd.Dir = root
	return cmd
}
