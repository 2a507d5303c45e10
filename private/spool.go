package private

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// Spool is a spool directory and the keys of what it holds. The keys are drawn when the
// directory is opened and never written anywhere.
type Spool struct {
	path    string
	nameKey [32]byte    // keys the names of blocks (HMAC-SHA256)
	blocks  cipher.AEAD // seals blocks
	log     blockLog    // the blocks kept (PutBlock)
}

// OpenSpool empties path of whatever an earlier run left there (it cannot be read without that
// run's keys), creates it with mode 0700, and draws fresh keys.
func OpenSpool(path string) (*Spool, error) {
	if err := os.RemoveAll(path); err != nil {
		return nil, fmt.Errorf("private: clear %s: %w", path, err)
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("private: %w", err)
	}
	return withKeys(path), nil
}

// withKeys is the spool at path with fresh keys.
func withKeys(path string) *Spool {
	d := &Spool{path: path}
	rand.Read(d.nameKey[:])
	var key [32]byte
	rand.Read(key[:])
	d.blocks = newGCM(key[:])
	return d
}

// Path is the directory.
func (d *Spool) Path() string { return d.path }

// Remove deletes the directory and everything in it.
func (d *Spool) Remove() error {
	d.closeLog()
	return os.RemoveAll(d.path)
}

// randomName is a fresh file name that says nothing: 16 random bytes in hex.
func (d *Spool) randomName() string {
	var b [16]byte
	rand.Read(b[:])
	return filepath.Join(d.path, hex.EncodeToString(b[:]))
}

// keyedName is what the block called name is kept under in memory: the first 16 bytes of
// HMAC-SHA256 under a key in memory.
func (d *Spool) keyedName(name []byte) [16]byte {
	m := hmac.New(sha256.New, d.nameKey[:])
	m.Write(name)
	return [16]byte(m.Sum(nil))
}

func newGCM(key []byte) cipher.AEAD {
	c, err := aes.NewCipher(key)
	if err != nil {
		panic("private: aes.NewCipher with a 32-byte key: " + err.Error())
	}
	g, err := cipher.NewGCM(c)
	if err != nil {
		panic("private: cipher.NewGCM: " + err.Error())
	}
	return g
}

// Sub makes a subdirectory with a random name and keys of its own, for one job (a download,
// an upload) whose files all go when it ends (Remove).
func (d *Spool) Sub() (*Spool, error) {
	path := d.randomName()
	if err := os.Mkdir(path, 0o700); err != nil {
		return nil, fmt.Errorf("private: %w", err)
	}
	return withKeys(path), nil
}
