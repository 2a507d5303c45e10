package node

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"

	"lethe/cputime"
	"lethe/crypto"
	"lethe/fcp"
)

// BenchmarkTimeToKey measures what a user of `lethe insert` waits for before the key is
// printed (spec §19.5, §13.6): a 256 MiB file sent over FCP (ClientPut, UploadFrom=direct) to
// a node, which spools and hashes it, encodes it into a block log on its disk and reports the
// URI (URIGenerated); and, as `lethe insert` gives it to a node on its own machine, the file
// named by its path (UploadFrom=disk, key-256MiB-disk), which the node hashes and encodes
// where it lies. The node has no peers, so its upload waits and only the key is timed.
// Beside it, SHA-256 and AES-256-GCM of the same bytes on one core, the raw limits it is
// held against (docs/performance.md, "The key first"):
//
//	go test ./node -run '^$' -bench TimeToKey -benchtime 3x
func BenchmarkTimeToKey(b *testing.B) {
	const size = 256 << 20
	data := randomBytes(size, 17)
	b.Run("sha256-1core", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			sha256.Sum256(data)
		}
	})
	b.Run("aes-gcm-1core", func(b *testing.B) {
		block, _ := aes.NewCipher(make([]byte, 32))
		gcm, _ := cipher.NewGCM(block)
		nonce := make([]byte, gcm.NonceSize())
		out := make([]byte, 0, 1<<20+gcm.Overhead())
		b.SetBytes(size)
		for b.Loop() {
			for p := data; len(p) > 0; p = p[1<<20:] {
				out = gcm.Seal(out[:0], nonce, p[:1<<20], nil)
				nonce[0]++
			}
		}
	})
	b.Run("key-256MiB", func(b *testing.B) { timeToKey(b, data, false) })
	b.Run("key-256MiB-disk", func(b *testing.B) { timeToKey(b, data, true) })
}

// timeToKey times ClientPuts of data to their URIs: the bytes over the connection, or, with
// byPath, the file on disk by its name (UploadFrom=disk after the TestDDA handshake), as
// `lethe insert` sends a file to a node on its machine.
func timeToKey(b *testing.B, data []byte, byPath bool) {
	size := int64(len(data))
	n := runNode(b, b.TempDir(), nil) // no peers: its upload waits
	c := dialFCP(b, n)
	var file *os.File
	if byPath {
		dir := b.TempDir()
		path := filepath.Join(dir, "content")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			b.Fatal(err)
		}
		var err error
		if file, err = os.OpenFile(path, os.O_WRONLY, 0); err != nil {
			b.Fatal(err)
		}
		defer file.Close()
		if ok, err := c.TestDDARead(context.Background(), dir); !ok {
			b.Fatalf("the node does not read %s: %v", dir, err)
		}
	}
	b.SetBytes(size)
	round := 0
	cpu, _ := cputime.Process()
	for b.Loop() {
		round++
		data[0] = byte(round) // new content each round: no block log of it exists yet
		req := fcp.PutRequest{URI: crypto.InsertURI{Type: crypto.CHK}, Data: bytes.NewReader(data), DataLength: size}
		if file != nil {
			if _, err := file.WriteAt(data[:1], 0); err != nil {
				b.Fatal(err)
			}
			req.Data, req.Filename = nil, file.Name()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		var uri crypto.RequestURI
		_, err := c.Put(ctx, req, func(p fcp.Progress) {
			if p.URI.Type != 0 && uri.Type == 0 {
				uri = p.URI
				cancel() // the key is what is timed; the upload waits for a peer
			}
		})
		cancel()
		if uri.Type == 0 {
			b.Fatalf("no URI: %v", err)
		}
	}
	// The CPU of the whole process, client and node, varies less with what else runs on
	// the machine than the time does.
	if end, err := cputime.Process(); err == nil {
		b.ReportMetric(float64(round)*float64(size)/1e6/(end-cpu).Seconds(), "MB/cpu-s")
	}
}
