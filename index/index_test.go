package index

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"lethe/crypto"
	"lethe/fetch"
)

// memBlocks is a block store in memory that counts what is asked of it.
type memBlocks struct {
	mu     sync.Mutex
	blocks map[crypto.RoutingKey][]byte
	gets   int
}

func newMemBlocks() *memBlocks { return &memBlocks{blocks: map[crypto.RoutingKey][]byte{}} }

func (m *memBlocks) PutBlock(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.blocks[rk]; ok && kt == crypto.SSK && !bytes.Equal(old, block) {
		return crypto.ErrCollision
	}
	m.blocks[rk] = bytes.Clone(block)
	return nil
}

func (m *memBlocks) GetBlock(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey, attempt int) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gets++
	b, ok := m.blocks[rk]
	if !ok {
		return nil, fetch.ErrBlockNotFound
	}
	return b, nil
}

func (m *memBlocks) keys() map[crypto.RoutingKey]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[crypto.RoutingKey]bool{}
	for k := range m.blocks {
		out[k] = true
	}
	return out
}

func (m *memBlocks) resetGets() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.gets
	m.gets = 0
	return n
}

// testCorpus makes n documents of words drawn from a Zipf law over a vocabulary with
// accents, capitals, Cyrillic and Han, so that some words are in nearly every document.
func testCorpus(tb testing.TB, n int, seed uint64) []Doc {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	base := []string{"Debian", "install", "guide", "café", "Über", "naïve", "привет", "ёлка", "数据", "ﬁle", "ＦＵＬＬ", "network", "kernel", "the", "and"}
	vocab := slices.Clone(base)
	for i := range 3000 {
		vocab = append(vocab, fmt.Sprintf("w%dx", i))
	}
	z := rand.NewZipf(rng, 1.1, 2, uint64(len(vocab)-1))
	site := testSite(tb)
	docs := make([]Doc, n)
	for i := range docs {
		var sb strings.Builder
		words := 5 + rng.IntN(200)
		for range words {
			sb.WriteString(vocab[z.Uint64()])
			sb.WriteByte(' ')
		}
		docs[i] = Doc{URI: site.WithPath(fmt.Sprintf("/doc%05d.html", i)), Title: fmt.Sprintf("Document %d", i), Text: sb.String()}
	}
	return docs
}

func testSite(tb testing.TB) crypto.RequestURI {
	tb.Helper()
	u := crypto.RequestURI{Type: crypto.CHK}
	u.Key[0], u.Crypto[0] = 1, 2
	return u
}

func corpusOf(docs []Doc) Corpus {
	return func(yield func(Doc) error) error {
		for _, d := range docs {
			if err := yield(d); err != nil {
				return err
			}
		}
		return nil
	}
}

// bruteCorpus is a corpus read for brute-force search: every document's word counts.
type bruteCorpus struct {
	docs  []bruteDoc
	total int
}

type bruteDoc struct {
	uri    string
	counts map[string]uint32
	n      int
}

func newBrute(docs []Doc) *bruteCorpus {
	b := &bruteCorpus{}
	for _, d := range docs {
		c, n := Counts(DocText(d))
		if n == 0 {
			continue
		}
		b.docs = append(b.docs, bruteDoc{d.URI.String(), c, n})
		b.total += n
	}
	return b
}

// search scores every document against the query the slow way: the reference that an
// index must agree with.
func (b *bruteCorpus) search(query string, k int) ([]Hit, int) {
	all := b.docs
	avg := float64(b.total) / float64(len(all))
	words := unique(Words(query))
	scores := map[int]float64{}
	for _, w := range words {
		df := 0
		for _, d := range all {
			if d.counts[w] > 0 {
				df++
			}
		}
		idf := IDF(len(all), df)
		for i, d := range all {
			if tf := d.counts[w]; tf > 0 {
				scores[i] += Weight(idf, tf, Norm(uint32(d.n)), avg)
			}
		}
	}
	var hits []Hit
	for i, s := range scores {
		hits = append(hits, Hit{URI: all[i].uri, Score: s})
	}
	SortHits(hits)
	return hits[:min(k, len(hits))], len(scores)
}

// tieTolerance is how far apart two scores may be and still count as a tie (spec §21.5).
const tieTolerance = 1e-9

// sameRanking compares two rankings: the same documents, and at each rank a document whose
// score equals the reference's at that rank within the tie tolerance.
func sameRanking(got, want []Hit) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d hits, want %d", len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i].Score-want[i].Score) > tieTolerance*math.Max(1, math.Abs(want[i].Score)) {
			return fmt.Errorf("rank %d: %s scores %g, want %s with %g", i+1, got[i].URI, got[i].Score, want[i].URI, want[i].Score)
		}
	}
	// The documents are the same, except where the last ranks tie with ones left out.
	w := map[string]bool{}
	for _, h := range want {
		w[h.URI] = true
	}
	last := want[len(want)-1].Score
	for _, h := range got {
		if !w[h.URI] && math.Abs(h.Score-last) > tieTolerance*math.Max(1, last) {
			return fmt.Errorf("%s (score %g) is not among the reference's", h.URI, h.Score)
		}
	}
	return nil
}

func publish(tb testing.TB, m *memBlocks, target crypto.InsertURI, prev *Index, docs []Doc, opts Options) (Report, *Index) {
	tb.Helper()
	ctx := context.Background()
	g := FetchGetter{F: fetch.New(m, fetch.Config{})}
	if opts.TempDir == "" {
		opts.TempDir = tb.TempDir()
	}
	rep, err := Publish(ctx, g, InsertPutter{P: m}, target, prev, corpusOf(docs), opts)
	if err != nil {
		tb.Fatalf("publish: %v", err)
	}
	ix, err := Open(ctx, g, rep.URI)
	if err != nil {
		tb.Fatalf("open %v: %v", rep.URI, err)
	}
	return rep, ix
}

// uskTarget is a fresh USK insert URI at edition 0.
func uskTarget(tb testing.TB, site string) crypto.InsertURI {
	tb.Helper()
	k, err := crypto.GenerateSSKURI(crand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	k.Type, k.Site, k.DocName = crypto.USK, site, ""
	return k
}

func queriesFor(docs []Doc, n int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 2))
	var out []string
	for len(out) < n {
		d := docs[rng.IntN(len(docs))]
		ws := Words(DocText(d))
		q := make([]string, 1+rng.IntN(3))
		for i := range q {
			q[i] = ws[rng.IntN(len(ws))]
		}
		out = append(out, strings.Join(q, " "))
	}
	return out
}

func TestSearchEqualsBruteForce(t *testing.T) {
	for _, tc := range []struct {
		name        string
		docs        int
		runPostings int
	}{
		{"one-doc", 1, 0},
		{"small", 40, 0},
		{"spilled-long-lists", 3000, 5000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs := testCorpus(t, tc.docs, 1)
			m := newMemBlocks()
			rep, ix := publish(t, m, chkTarget(), nil, docs, Options{RunPostings: tc.runPostings})
			if tc.runPostings > 0 && rep.Build.Runs < 2 {
				t.Errorf("%d runs spilled, want several", rep.Build.Runs)
			}
			g := FetchGetter{F: fetch.New(m, fetch.Config{})}
			brute := newBrute(docs)
			for _, q := range append(queriesFor(docs, 60, 3), "debian", "CAFE", "uber naive", "ЁЛКА", "数", "file full", "nosuchword") {
				res, err := ix.Search(context.Background(), g, q, 10)
				if err != nil {
					t.Fatalf("%q: %v", q, err)
				}
				want, matches := brute.search(q, 10)
				if res.Matches != matches {
					t.Errorf("%q: %d matches, brute force finds %d", q, res.Matches, matches)
				}
				if len(want) == 0 {
					if len(res.Hits) != 0 {
						t.Errorf("%q: %d hits, want none", q, len(res.Hits))
					}
					continue
				}
				if err := sameRanking(res.Hits, want); err != nil {
					t.Errorf("%q: %v", q, err)
				}
			}
		})
	}
}

// chkTarget publishes roots under a CHK: tests of the format need no edition.
func chkTarget() crypto.InsertURI { return crypto.InsertURI{Type: crypto.CHK} }
