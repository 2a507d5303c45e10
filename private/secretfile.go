package private

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrSecretPermissions: a secret file can be read by other users. It is refused until its
// permissions are fixed, as the node's identity file is (docs/spec.md §9.3): whoever could
// read it may already have copied it.
var ErrSecretPermissions = errors.New("secret file is readable by other users")

// ReadSecretFile reads a secret file of at most max bytes (and one more, so that the caller
// sees a longer file for what it is), refusing one that group or others may read, and one
// that is not a regular file. A missing file is an error satisfying errors.Is(err,
// fs.ErrNotExist).
func ReadSecretFile(path string, max int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: %w (mode %v; run chmod 600 on it)", path, ErrSecretPermissions, fi.Mode().Perm())
	}
	return io.ReadAll(io.LimitReader(f, int64(max)+1))
}
