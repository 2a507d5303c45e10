package transport

import (
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"lethe/crypto"
)

func TestIdentityFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "identity")
	id, created, err := LoadOrCreateIdentity(path, "", rand.Reader)
	if err != nil || !created {
		t.Fatalf("LoadOrCreateIdentity: created %v, %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("identity file mode %v, want 0600", fi.Mode().Perm())
	}
	again, created, err := LoadOrCreateIdentity(path, "", rand.Reader)
	if err != nil || created || again.ID() != id.ID() {
		t.Fatalf("second LoadOrCreateIdentity: %v, created %v, same %v", err, created, again != nil && again.ID() == id.ID())
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIdentity(path, ""); !errors.Is(err, ErrIdentityPermissions) {
		t.Errorf("world-readable identity file: %v, want ErrIdentityPermissions", err)
	}

	sealed := filepath.Join(dir, "sealed")
	if err := SaveIdentity(sealed, id, "passphrase", 10); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIdentity(sealed, ""); !errors.Is(err, crypto.ErrPassphraseRequired) {
		t.Errorf("sealed file without passphrase: %v", err)
	}
	if _, err := LoadIdentity(sealed, "wrong"); !errors.Is(err, crypto.ErrWrongPassphrase) {
		t.Errorf("sealed file with the wrong passphrase: %v", err)
	}
	got, err := LoadIdentity(sealed, "passphrase")
	if err != nil || got.ID() != id.ID() {
		t.Fatalf("sealed file: %v", err)
	}
	// Saving over an existing file replaces it whole and leaves no temporary file.
	if err := SaveIdentity(sealed, id, "", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIdentity(sealed, ""); err != nil {
		t.Errorf("overwritten file: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("%d files in the directory, want 2", len(entries))
	}
}
