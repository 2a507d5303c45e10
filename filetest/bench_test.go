package filetest

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"io"
	"path/filepath"
	"testing"

	"lethe/fetch"
	"lethe/insert"
)

const benchSize = 256 << 20

// BenchmarkPipeline measures the local insert pipeline (compress test + split + Reed–Solomon
// + CHK encryption into an in-memory store that does not hash blocks again), the same into a
// block log on disk (what the time to the key costs, spec §13.6), and the fetch pipeline
// (verify + decrypt + join, streamed to io.Discard) on a 256 MiB file, beside SHA-256 and
// AES-256-GCM of the same number of bytes on one core, the raw limits the targets are stated
// against (docs/design.md §5):
//
//	go test ./filetest -run '^$' -bench Pipeline -benchtime 3x
//
// TestMemoryBounded measures the memory both pipelines hold.
func BenchmarkPipeline(b *testing.B) {
	random := randomBytes(41, benchSize)
	text := textBytes(43, benchSize)

	b.Run("sha256-1core", func(b *testing.B) {
		b.SetBytes(benchSize)
		for b.Loop() {
			h := sha256.New()
			for p := random; len(p) > 0; p = p[1<<20:] {
				h.Write(p[:1<<20])
			}
			h.Sum(nil)
		}
	})
	b.Run("aes-gcm-1core", func(b *testing.B) {
		block, _ := aes.NewCipher(make([]byte, 32))
		gcm, _ := cipher.NewGCM(block)
		nonce := make([]byte, gcm.NonceSize())
		out := make([]byte, 0, 1<<20+gcm.Overhead())
		b.SetBytes(benchSize)
		for b.Loop() {
			for p := random; len(p) > 0; p = p[1<<20:] {
				out = gcm.Seal(out[:0], nonce, p[:1<<20], nil)
				nonce[0]++
			}
		}
	})
	b.Run("key-first-random", func(b *testing.B) {
		b.SetBytes(benchSize)
		for b.Loop() {
			path := filepath.Join(b.TempDir(), "bench.blocks")
			log, err := insert.CreateBlockLog(path)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := insert.File(context.Background(), log, chk(), bytes.NewReader(random), insert.Config{}); err != nil {
				b.Fatal(err)
			}
			if err := log.Seal(); err != nil {
				b.Fatal(err)
			}
			log.Remove()
		}
	})
	for _, c := range []struct {
		name string
		data []byte
	}{{"random", random}, {"text", text}} {
		var (
			st  *Store
			uri = insertBytes(b, NewStore(), c.data[:1], insert.Config{})
		)
		b.Run("insert-"+c.name, func(b *testing.B) {
			b.SetBytes(benchSize)
			for b.Loop() {
				st = NewStore()
				st.TrustPuts = true
				uri = insertBytes(b, st, c.data, insert.Config{})
			}
		})
		b.Run("fetch-"+c.name, func(b *testing.B) {
			b.SetBytes(benchSize)
			for b.Loop() {
				if _, err := fetch.New(st, fetch.Config{}).Fetch(context.Background(), uri, io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
