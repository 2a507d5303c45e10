package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
)

// TestIndexAndSearch: a site published with `lethe insert`, indexed with `lethe index` from
// its directory, searched with `lethe search`; then a changed page is published again in
// the next edition of both, and the search finds the change.
func TestIndexAndSearch(t *testing.T) {
	net := network(t)
	ctx := context.Background()
	dir := t.TempDir()
	writeFile(t, dir, "index.html", []byte(`<title>Orchard</title><p>See <a href="pears.html">pears</a>.</p>`))
	writeFile(t, dir, "pears.html", []byte(`<title>Pears</title><p>Pears ripen after picking. Pears!</p>`))
	writeFile(t, dir, "apples.txt", []byte("Apples and one pear."))

	r := lethe(t, ctx, net.vars, nil, "insert", dir, "--usk", "orchard")
	r.wantCode(t, exitOK)
	site := strings.TrimSpace(r.stdout)
	siteKey := regexp.MustCompile(`--ssk (\S+)`).FindStringSubmatch(r.stderr)
	if siteKey == nil {
		t.Fatalf("no insert key printed:\n%s", r.stderr)
	}

	r = lethe(t, ctx, net.vars, nil, "index", dir, "--site", site, "--usk", "orchard-index", "--title", "Orchard")
	r.wantCode(t, exitOK)
	ix := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(ix, "USK@") || !strings.Contains(r.stderr, "indexed 3 documents") {
		t.Fatalf("index printed %q:\n%s", ix, r.stderr)
	}
	indexKey := regexp.MustCompile(`--ssk (\S+)`).FindStringSubmatch(r.stderr)
	if indexKey == nil {
		t.Fatalf("no insert key printed for the index:\n%s", r.stderr)
	}

	r = lethe(t, ctx, net.vars, nil, "search", "pears", "--index", ix)
	r.wantCode(t, exitOK)
	// Both HTML pages hold the word; the one that holds it thrice comes first. No stemming:
	// "pear" of apples.txt is another word.
	if !strings.HasPrefix(r.stdout, "1. Pears\n") || !strings.Contains(r.stdout, "/orchard/0/pears.html") ||
		!strings.Contains(r.stdout, "2. Orchard\n") || strings.Contains(r.stdout, "apples") {
		t.Errorf("search pears:\n%s", r.stdout)
	}

	writeFile(t, dir, "plums.txt", []byte("Plums, not pears."))
	r = lethe(t, ctx, net.vars, nil, "insert", dir, "--usk", "orchard", "--ssk", siteKey[1], "--edition", "1")
	r.wantCode(t, exitOK)
	site1 := strings.TrimSpace(r.stdout)
	r = lethe(t, ctx, net.vars, nil, "index", dir, "--site", site1, "--usk", "orchard-index", "--ssk", indexKey[1])
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stderr, "(1 new or changed, 0 removed, 3 kept)") || !strings.Contains(r.stdout, "/orchard-index/1") {
		t.Errorf("the second edition:\n%s%s", r.stdout, r.stderr)
	}
	r = lethe(t, ctx, net.vars, nil, "search", "plums", "--index", ix)
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stdout, "/orchard/1/plums.txt") {
		t.Errorf("search plums in the newest edition:\n%s", r.stdout)
	}

	r = lethe(t, ctx, net.vars, nil, "search", "pears")
	r.wantCode(t, exitUsage)
}
