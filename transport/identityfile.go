package transport

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"lethe/crypto"
)

// The identity file (spec §9.3): the node's secret identity key in its data directory, in
// the plain or the passphrase-sealed form of crypto.OpenIdentity, readable by its owner only.

// ErrIdentityPermissions: the identity file can be read by other users; it is refused until
// its permissions are fixed, since anyone who read it can impersonate the node.
var ErrIdentityPermissions = errors.New("identity file is readable by other users")

// LoadIdentity reads the identity file at path. A sealed file needs passphrase; a plain one
// opens with any. A file that group or others may read is refused with
// ErrIdentityPermissions.
func LoadIdentity(path, passphrase string) (*crypto.NodeIdentity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("load identity %s: not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("load identity %s: %w (mode %v; run chmod 600 on it)", path, ErrIdentityPermissions, fi.Mode().Perm())
	}
	data, err := io.ReadAll(io.LimitReader(f, crypto.MaxIdentityFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	id, err := crypto.OpenIdentity(data, passphrase)
	if err != nil {
		return nil, fmt.Errorf("load identity %s: %w", path, err)
	}
	return id, nil
}

// SaveIdentity writes id to path with permissions 0600, sealed with passphrase unless it is
// empty, atomically: a crash leaves either the old file or the new one, never a torn one.
// workFactor is passed to crypto.SealIdentity (0 for the default).
func SaveIdentity(path string, id *crypto.NodeIdentity, passphrase string, workFactor int) error {
	data := crypto.MarshalIdentity(id)
	if passphrase != "" {
		var err error
		if data, err = crypto.SealIdentity(id, passphrase, workFactor); err != nil {
			return err
		}
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".identity-*")
	if err != nil {
		return fmt.Errorf("save identity: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	// CreateTemp makes the file 0600; say so anyway, since it is the point.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save identity: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("save identity: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save identity: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save identity: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save identity: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // make the rename durable; not all systems allow syncing a directory
		d.Close()
	}
	return nil
}

// LoadOrCreateIdentity loads the identity at path, or, if there is no file, generates one
// from rand and saves it (sealed if passphrase is set). created reports which happened.
func LoadOrCreateIdentity(path, passphrase string, rand io.Reader) (id *crypto.NodeIdentity, created bool, err error) {
	id, err = LoadIdentity(path, passphrase)
	if !errors.Is(err, fs.ErrNotExist) {
		return id, false, err
	}
	if id, err = crypto.GenerateNodeIdentity(rand); err != nil {
		return nil, false, err
	}
	if err := SaveIdentity(path, id, passphrase, 0); err != nil {
		return nil, false, err
	}
	return id, true, nil
}
