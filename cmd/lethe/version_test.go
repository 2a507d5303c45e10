package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"lethe/node"
)

func TestVersion(t *testing.T) {
	r := lethe(t, context.Background(), nil, nil, "version")
	r.wantCode(t, exitOK)
	for _, want := range []string{"Lethe " + node.Version, "build 1", runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH, "wire 1", "FCP 2.0", "revision "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("lethe version lacks %q:\n%s", want, r.stdout)
		}
	}
	r = lethe(t, context.Background(), nil, nil, "version", "--json")
	r.wantCode(t, exitOK)
	var b node.BuildInfo
	if err := json.Unmarshal([]byte(r.stdout), &b); err != nil {
		t.Fatalf("lethe version --json: %v\n%s", err, r.stdout)
	}
	if b.Version != node.Version || b.GoVersion != runtime.Version() || b.WireMax == 0 || b.FCP != "2.0" {
		t.Errorf("lethe version --json: %+v", b)
	}
	lethe(t, context.Background(), nil, nil, "version", "extra").wantCode(t, exitUsage)
}

// TestVersionRevision: a binary built from a git checkout names the commit it was built
// from, as git names HEAD.
func TestVersionRevision(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the lethe binary")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// The go command records the revision only where .git is a directory: not in a linked
	// work tree (git worktree add), whose .git is a file.
	if fi, err := os.Stat(filepath.Join(root, ".git")); err != nil || !fi.IsDir() {
		t.Skipf("%s is not the top of a git checkout (a linked work tree or an export): the go command records no revision there", root)
	}
	head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("git cannot name HEAD here: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "lethe")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, "./cmd/lethe")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatalf("lethe version --json: %v", err)
	}
	var b node.BuildInfo
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatalf("lethe version --json: %v\n%s", err, out)
	}
	if want := strings.TrimSpace(string(head)); b.Revision != want {
		t.Errorf("revision %q, git says HEAD is %q", b.Revision, want)
	}
	if b.Module == "(unknown)" || b.CommitTime == "" {
		t.Errorf("module %q, commit time %q: the build info was not read", b.Module, b.CommitTime)
	}
}
