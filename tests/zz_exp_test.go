package tests

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"lethe/crawl"
	"lethe/crypto"
	"lethe/fetch"
	"lethe/filetest"
	"lethe/index"
)

func TestZZExperiment(t *testing.T) {
	dir := os.Getenv("SEARCH_EXP_DIR")
	if dir == "" {
		t.Skip()
	}
	st := filetest.NewStore()
	if _, err := os.Stat(dir); err != nil {
		gatherDocs(t, "/usr/share/doc", dir, 12000, 64<<10)
	}
	ents, _ := os.ReadDir(dir)
	var sites []string
	for _, e := range ents {
		sites = append(sites, filepath.Join(dir, e.Name()))
	}
	corpus := func(yield func(index.Doc) error) error {
		for i, s := range sites {
			u := crypto.RequestURI{Type: crypto.USK, Site: "docs-" + string(rune('a'+i))}
			u.Key[0], u.Crypto[0] = byte(i), 1
			if err := crawl.Dir(s, u, 64<<10)(yield); err != nil {
				return err
			}
		}
		return nil
	}
	var ref brute
	corpus(func(d index.Doc) error { ref.add(d); return nil })
	rep, err := index.Publish(context.Background(), nil, index.InsertPutter{P: st}, crypto.InsertURI{Type: crypto.CHK}, nil, corpus, index.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	g := index.FetchGetter{F: fetch.New(st, fetch.Config{})}
	ix, _ := index.Open(context.Background(), g, rep.URI)
	nb, _ := ix.Blocks(context.Background(), g)
	t.Logf("docs %d postings %d blocks %d", rep.Root.Docs, rep.Build.Postings, nb)
	rng := rand.New(rand.NewPCG(19, 19))
	var counts []int
	kinds := map[byte]int{}
	kq := map[byte]int{}
	index.DebugKinds = func(k byte) { kinds[k]++; kq[k]++ }
	seg, _ := index.Open(context.Background(), g, rep.URI)
	_ = seg
	for q := 0; q < 100; q++ {
		d := rng.IntN(len(ref.uris))
		var ws []string
		for w := range ref.counts[d] {
			ws = append(ws, w)
		}
		sort.Strings(ws)
		query := ws[rng.IntN(len(ws))] + " " + ws[rng.IntN(len(ws))]
		st.ResetCounts()
		res, err := index.SearchURI(context.Background(), index.FetchGetter{F: fetch.New(st, fetch.Config{})}, rep.URI, query, 10)
		if err != nil {
			t.Fatal(err)
		}
		counts = append(counts, st.TotalGets())
		if st.TotalGets() > 12 {
			t.Logf("%q: %d blocks, %d matches, kinds %v", query, st.TotalGets(), res.Matches, kq)
		}
		clear(kq)
	}
	t.Logf("kinds over 200 queries: %v", kinds)
	slices.Sort(counts)
	t.Logf("blocks: median %d p90 %d max %d", counts[len(counts)/2], counts[len(counts)*9/10], counts[len(counts)-1])
	_ = strings.Join
}
