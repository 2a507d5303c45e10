package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// freeAddr returns a loopback address nobody listens on.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestFetchMalformedURI(t *testing.T) {
	for _, uri := range []string{"CHK@not-a-key", "http://example.org/", "CHK@", "USK@abc/site/x/"} {
		r := lethe(t, context.Background(), []string{"LETHE_FCP=" + freeAddr(t)}, nil, "fetch", uri, "-o", filepath.Join(t.TempDir(), "x"))
		r.wantCode(t, exitUsage)
		if !strings.Contains(r.stderr, "is not a Lethe URI") {
			t.Errorf("%s: stderr does not say the URI is malformed:\n%s", uri, r.stderr)
		}
	}
}

func TestFetchNoNode(t *testing.T) {
	net := network(t)
	src := writeFile(t, t.TempDir(), "a.txt", []byte("a"))
	r := lethe(t, context.Background(), net.vars, nil, "insert", src)
	r.wantCode(t, exitOK)
	out := filepath.Join(t.TempDir(), "a.txt")
	r = lethe(t, context.Background(), []string{"LETHE_FCP=" + freeAddr(t)}, nil, "fetch", strings.TrimSpace(r.stdout), "-o", out)
	r.wantCode(t, exitNoNode)
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed fetch left a file")
	}
}

func TestFetchExistingOutput(t *testing.T) {
	net := network(t)
	dir := t.TempDir()
	src := writeFile(t, dir, "new.txt", []byte("new content"))
	r := lethe(t, context.Background(), net.vars, nil, "insert", src)
	r.wantCode(t, exitOK)
	uri := strings.TrimSpace(r.stdout)
	out := writeFile(t, dir, "old.txt", []byte("precious"))

	r = lethe(t, context.Background(), net.vars, nil, "fetch", uri, "-o", out)
	r.wantCode(t, exitFile)
	if !strings.Contains(r.stderr, "already exists") || !strings.Contains(r.stderr, "--force") {
		t.Errorf("stderr does not explain:\n%s", r.stderr)
	}
	if b, _ := os.ReadFile(out); string(b) != "precious" {
		t.Fatalf("the existing file was changed to %q", b)
	}
	r = lethe(t, context.Background(), net.vars, nil, "fetch", uri, "-o", out, "--force")
	r.wantCode(t, exitOK)
	if b, _ := os.ReadFile(out); string(b) != "new content" {
		t.Errorf("with --force the file holds %q", b)
	}
}

func TestFetchNameFromURI(t *testing.T) {
	net := network(t)
	dir := t.TempDir()
	r := lethe(t, context.Background(), net.vars, nil, "insert", writeFile(t, dir, "named.txt", []byte("by name")))
	r.wantCode(t, exitOK)
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	out := t.TempDir()
	os.Chdir(out)
	lethe(t, context.Background(), net.vars, nil, "fetch", strings.TrimSpace(r.stdout)).wantCode(t, exitOK)
	if b, err := os.ReadFile(filepath.Join(out, "named.txt")); err != nil || string(b) != "by name" {
		t.Errorf("named.txt: %q, %v", b, err)
	}
}

func TestFetchNotFound(t *testing.T) {
	net := network(t)
	keys := lethe(t, context.Background(), nil, nil, "keygen")
	req := strings.Split(keys.stdout, "\n")[1] + "never-inserted"
	out := filepath.Join(t.TempDir(), "x")
	r := lethe(t, context.Background(), net.vars, nil, "fetch", req, "-o", out)
	r.wantCode(t, exitFailed)
	if !strings.Contains(r.stderr, "not found") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed fetch left a file")
	}
}

// TestFetchInterrupted stops a fetch part-way, as Ctrl-C does: nothing is left under the
// final name, and no partial file stays behind.
func TestFetchInterrupted(t *testing.T) {
	net := network(t)
	dir := t.TempDir()
	data := make([]byte, 6<<20)
	for i := range data {
		data[i] = byte(i * 7919 >> 8)
	}
	r := lethe(t, context.Background(), net.vars, nil, "insert", "--no-compress", writeFile(t, dir, "big.bin", data))
	r.wantCode(t, exitOK)
	uri := strings.TrimSpace(r.stdout)

	outDir := t.TempDir()
	out := filepath.Join(outDir, "big.bin")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	stderr.onWrite = func(p []byte) {
		if strings.Contains(string(p), "fetching") {
			cancel() // the first progress report: the fetch is under way
		}
	}
	e := &env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(k string) string {
		if k == "LETHE_FCP" {
			return net.tn.Nodes[3].FCPAddr()
		}
		return ""
	}}
	code := runEnv(ctx, []string{"fetch", uri, "-o", out}, e)
	if code != exitInterrupted {
		t.Fatalf("exit code %d, want %d; stderr:\n%s", code, exitInterrupted, stderr.String())
	}
	entries, _ := os.ReadDir(outDir)
	for _, e := range entries {
		t.Errorf("left behind: %s", e.Name())
	}
}
