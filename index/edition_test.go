package index

import (
	"context"
	"testing"

	"lethe/fetch"
)

// TestEditionCostsWhatChanged: a one-document change publishes an edition of two new
// blocks, and the edition answers as a fresh build of the changed
// corpus would; removed documents are no longer found; past the segment limit the index is
// rebuilt as one segment.
func TestEditionCostsWhatChanged(t *testing.T) {
	docs := testCorpus(t, 3000, 5)
	m := newMemBlocks()
	target := uskTarget(t, "idx")
	rep0, ix0 := publish(t, m, target, nil, docs, Options{Title: "test"})
	before := m.keys()
	if rep0.Added != len(docs) || !rep0.Rebuilt {
		t.Fatalf("first edition: %+v", rep0)
	}

	changed := append([]Doc(nil), docs...)
	changed[1234].Text += " brandnewword"
	rep1, ix1 := publish(t, m, target.WithEdition(rep0.URI.Edition+1), ix0, changed, Options{})
	after := m.keys()
	fresh := 0
	for k := range after {
		if !before[k] {
			fresh++
		}
	}
	share := float64(fresh) / float64(len(before)+fresh)
	t.Logf("edition 0: %d blocks; one document changed: %d new blocks (%.2f%%)", len(before), fresh, 100*share)
	if rep1.Added != 1 || rep1.Kept != len(docs)-1 || rep1.Rebuilt {
		t.Errorf("second edition: added %d, kept %d, rebuilt %v", rep1.Added, rep1.Kept, rep1.Rebuilt)
	}
	// The root and a one-node segment, whatever the index's size: 2 of the 25 blocks of
	// this small index, 2 of hundreds for the 12,000 documents of the long test.
	if fresh > 2 {
		t.Errorf("%d new blocks (%.1f%%), want the root and one small segment", fresh, 100*share)
	}
	if rep1.Root.Title != "test" {
		t.Errorf("title %q not kept", rep1.Root.Title)
	}
	g := FetchGetter{F: fetch.New(m, fetch.Config{})}
	brute := newBrute(changed)
	for _, q := range append(queriesFor(changed, 30, 9), "brandnewword", "brandnewword w1x") {
		res, err := ix1.Search(context.Background(), g, q, 10)
		if err != nil {
			t.Fatal(err)
		}
		want, matches := brute.search(q, 10)
		if res.Matches != matches {
			t.Errorf("%q: %d matches, want %d", q, res.Matches, matches)
		}
		if err := sameRanking(res.Hits, want); err != nil {
			t.Errorf("%q: %v", q, err)
		}
	}

}

// TestEditionsPastTheSegmentLimit: editions that remove a document and change another, one
// after the other, keep the index equal to a fresh build, and past the segment limit the
// index is built anew as one segment.
func TestEditionsPastTheSegmentLimit(t *testing.T) {
	m := newMemBlocks()
	target := uskTarget(t, "idx")
	cur := testCorpus(t, 200, 6)
	_, ix := publish(t, m, target, nil, cur, Options{})
	g := FetchGetter{F: fetch.New(m, fetch.Config{})}
	rebuilt := false
	for i := range DefaultMaxSegments + 1 {
		cur = append([]Doc(nil), cur[1:]...)
		cur[i].Text += " another"
		rep, next := publish(t, m, target.WithEdition(ix.URI.Edition+1), ix, cur, Options{})
		segs := len(rep.Root.Segments)
		if segs > DefaultMaxSegments {
			t.Fatalf("edition with %d segments", segs)
		}
		if int(rep.Root.Docs) != len(cur) {
			t.Fatalf("edition holds %d documents, want %d", rep.Root.Docs, len(cur))
		}
		rebuilt = rebuilt || rep.Rebuilt
		ix = next
	}
	if !rebuilt {
		t.Errorf("%d editions and no rebuild", DefaultMaxSegments+1)
	}
	res, err := ix.Search(context.Background(), g, "another", 100)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := newBrute(cur).search("another", 100)
	if err := sameRanking(res.Hits, want); err != nil {
		t.Errorf("after rebuilds: %v", err)
	}
}
