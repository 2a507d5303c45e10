package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lethe/crypto"
)

func TestInsertFetchRoundTrip(t *testing.T) {
	net := network(t)
	dir := t.TempDir()
	content := []byte(strings.Repeat("Lethe keeps what it is given.\n", 5000)) // 150 KB
	src := writeFile(t, dir, "notes.txt", content)

	r := lethe(t, context.Background(), net.vars, nil, "insert", src)
	r.wantCode(t, exitOK)
	uri := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(uri, "CHK@") || !strings.HasSuffix(uri, "/notes.txt") {
		t.Fatalf("insert printed %q, want CHK@…/notes.txt", uri)
	}
	if !strings.Contains(r.stderr, "inserting notes.txt: 100%") {
		t.Errorf("no progress lines on stderr:\n%s", r.stderr)
	}

	out := filepath.Join(dir, "copy.txt")
	r = lethe(t, context.Background(), net.vars, nil, "fetch", uri, "-o", out)
	r.wantCode(t, exitOK)
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(content) {
		t.Errorf("fetched %d bytes that differ from the %d inserted", len(got), len(content))
	}
}

func TestInsertKeyOnly(t *testing.T) {
	net := network(t)
	src := writeFile(t, t.TempDir(), "page.html", []byte("<p>the same bytes, the same key</p>"))
	dry := lethe(t, context.Background(), net.vars, nil, "insert", "--key-only", src)
	dry.wantCode(t, exitOK)
	real := lethe(t, context.Background(), net.vars, nil, "insert", src)
	real.wantCode(t, exitOK)
	if dry.stdout != real.stdout {
		t.Errorf("--key-only gave %q, the insert %q: a key computed first must be the key the insert gets", dry.stdout, real.stdout)
	}
}

func TestInsertMissingFile(t *testing.T) {
	net := network(t)
	r := lethe(t, context.Background(), net.vars, nil, "insert", filepath.Join(t.TempDir(), "absent.txt"))
	r.wantCode(t, exitFile)
	if !strings.Contains(r.stderr, "lethe: error: ") || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("stderr does not say the file is missing:\n%s", r.stderr)
	}
}

func TestInsertNoNode(t *testing.T) {
	src := writeFile(t, t.TempDir(), "a.txt", []byte("a"))
	r := lethe(t, context.Background(), []string{"LETHE_FCP=" + freeAddr(t)}, nil, "insert", src)
	r.wantCode(t, exitNoNode)
	if !strings.Contains(r.stderr, "no Lethe node answers") || !strings.Contains(r.stderr, "lethe: hint: start a node with `lethe node`") {
		t.Errorf("stderr does not explain how to start a node:\n%s", r.stderr)
	}
}

func TestInsertSiteEditions(t *testing.T) {
	net := network(t)
	dir := t.TempDir()
	writeFile(t, dir, "site/index.html", []byte("<p>first</p>"))
	writeFile(t, dir, "site/img/dot.txt", []byte("."))
	keys := lethe(t, context.Background(), nil, nil, "keygen")
	keys.wantCode(t, exitOK)
	insertKey := strings.Split(keys.stdout, "\n")[0]

	r := lethe(t, context.Background(), net.vars, nil, "insert", filepath.Join(dir, "site"), "--usk", "diary", "--ssk", insertKey)
	r.wantCode(t, exitOK)
	first, err := crypto.ParseURI(strings.TrimSpace(r.stdout))
	if err != nil || first.Type != crypto.USK || first.Edition != 0 {
		t.Fatalf("first edition: %q (%v)", r.stdout, err)
	}
	writeFile(t, dir, "site/index.html", []byte("<p>second</p>"))
	r = lethe(t, context.Background(), net.vars, nil, "insert", filepath.Join(dir, "site"), "--usk", "diary", "--ssk", insertKey)
	r.wantCode(t, exitOK)
	second, err := crypto.ParseURI(strings.TrimSpace(r.stdout))
	if err != nil || second.Edition != 1 {
		t.Fatalf("second insert: %q (%v), want edition 1", r.stdout, err)
	}
	r = lethe(t, context.Background(), net.vars, nil, "fetch", first.WithPath("/index.html").String(), "-o", "-")
	r.wantCode(t, exitOK)
	if r.stdout != "<p>second</p>" {
		t.Errorf("edition 0's URI fetched %q, want the newest edition's page", r.stdout)
	}
}

func TestInsertEncryptedTo(t *testing.T) {
	net := network(t)
	dir := t.TempDir()
	id := lethe(t, context.Background(), nil, nil, "keygen", "--age")
	id.wantCode(t, exitOK)
	idFile := writeFile(t, dir, "me.key", []byte(id.stdout))
	recipient := strings.TrimPrefix(strings.SplitN(id.stdout, "\n", 2)[0], "# recipient: ")
	src := writeFile(t, dir, "secret.txt", []byte("for my eyes only"))

	r := lethe(t, context.Background(), net.vars, nil, "insert", src, "--to", recipient)
	r.wantCode(t, exitOK)
	uri := strings.TrimSpace(r.stdout)
	plain := lethe(t, context.Background(), net.vars, nil, "fetch", uri, "-o", "-")
	plain.wantCode(t, exitOK)
	if strings.Contains(plain.stdout, "for my eyes only") {
		t.Fatal("content inserted with --to is readable without the identity")
	}
	r = lethe(t, context.Background(), net.vars, nil, "fetch", uri, "-o", "-", "--identity", idFile)
	r.wantCode(t, exitOK)
	if r.stdout != "for my eyes only" {
		t.Errorf("decrypted %q", r.stdout)
	}
}

func TestInsertUsage(t *testing.T) {
	for _, args := range [][]string{
		{"insert"},
		{"insert", "a", "b"},
		{"insert", "--no-such-flag", "a"},
		{"insert", "--ssk", "SSK@not-a-key", "a"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			src := writeFile(t, t.TempDir(), "a", []byte("a"))
			for i, a := range args {
				if a == "a" {
					args[i] = src
				}
			}
			r := lethe(t, context.Background(), []string{"LETHE_FCP=" + freeAddr(t)}, nil, args...)
			r.wantCode(t, exitUsage)
		})
	}
}

// TestInsertBackground: with --background the command prints the URI and returns before the
// upload is done; the node finishes it on its own, and the content then fetches whole.
func TestInsertBackground(t *testing.T) {
	net := network(t)
	dir := t.TempDir()
	content := make([]byte, 3<<20)
	rand.NewChaCha8([32]byte{9}).Read(content)
	src := writeFile(t, dir, "video.bin", content)

	r := lethe(t, context.Background(), net.vars, nil, "insert", "--background", src)
	r.wantCode(t, exitOK)
	uri := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(uri, "CHK@") || !strings.HasSuffix(uri, "/video.bin") || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("insert --background printed %q, want one CHK@…/video.bin", r.stdout)
	}
	if !strings.Contains(r.stderr, "the node is uploading it") {
		t.Errorf("stderr does not say the upload goes on:\n%s", r.stderr)
	}
	out := filepath.Join(dir, "copy.bin")
	deadline := time.Now().Add(3 * time.Minute)
	for {
		r = lethe(t, context.Background(), net.vars, nil, "fetch", uri, "-o", out, "--force")
		if r.code == exitOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the content never became fetchable: %s", r.stderr)
		}
		time.Sleep(time.Second)
	}
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, content) {
		t.Errorf("fetched %d bytes that differ from the %d inserted (%v)", len(got), len(content), err)
	}
}
