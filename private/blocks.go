package private

import (
	"crypto/rand"
	"errors"
	"io"
	"os"
)

// MaxBlock bounds what PutBlock takes and GetBlock reads, so that a stray large file in the
// directory costs nothing.
const MaxBlock = 1 << 20

// PutBlock keeps data under name (a routing key, say). The file's name is keyed (keyedName)
// and its content is a random 12-byte nonce and data sealed with AES-256-GCM under the
// directory's key, with name as additional data, so that a file cannot be passed off as
// another block's. It is written to a temporary file and renamed, so that a crash leaves the
// whole block or none.
func (d *Spool) PutBlock(name, data []byte) error {
	if len(data) > MaxBlock {
		return errors.New("private: block too large")
	}
	nonce := make([]byte, d.blocks.NonceSize(), d.blocks.NonceSize()+len(data)+d.blocks.Overhead())
	rand.Read(nonce)
	sealed := d.blocks.Seal(nonce, nonce, data, name)
	tmp := d.randomName()
	if err := os.WriteFile(tmp, sealed, 0o600); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, d.keyedName(name))
}

// GetBlock returns the block kept under name, if there is one and it opens.
func (d *Spool) GetBlock(name []byte) ([]byte, bool) {
	f, err := os.Open(d.keyedName(name))
	if err != nil {
		return nil, false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxBlock+int64(d.blocks.NonceSize()+d.blocks.Overhead())+1))
	if err != nil || len(b) < d.blocks.NonceSize() {
		return nil, false
	}
	ns := d.blocks.NonceSize()
	data, err := d.blocks.Open(nil, b[:ns], b[ns:], name)
	if err != nil {
		return nil, false
	}
	return data, true
}
