package filetest

import (
	"context"
	"crypto/sha256"
	"io"
	"testing"

	"lethe/fetch"
	"lethe/insert"
)

const benchSize = 256 << 20

// BenchmarkPipeline measures the local insert pipeline (compress test + split + Reed–Solomon
// + CHK encryption into an in-memory store that does not hash blocks again) and the fetch pipeline (verify + decrypt +
// join, streamed to io.Discard) on a 256 MiB file, beside SHA-256 of the same number of
// bytes on one core, the raw limit the targets are stated against (docs/design.md §5):
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
