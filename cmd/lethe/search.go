package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"lethe/crawl"
	"lethe/index"
)

func init() {
	register(&command{
		name: "search",
		args: "WORDS... --index URI [--index URI]... [-n N]",
		summary: `Search indexes for documents holding the words.
Each --index is an index's USK (see ` + "`lethe index`" + `); its newest edition is searched. The
search runs here: the node is only asked for the index's blocks, as for any download, and
never sees the words. Results are ranked by BM25 within each index and merged by score.`,
		run: runSearch,
	})
}

func runSearch(ctx context.Context, e *env, args []string) error {
	c := commands["search"]
	fs := newFlags(e, c)
	var indexes indexArgs
	fcpFlag := fs.String("fcp", "", "the node's client protocol address (default $LETHE_FCP or "+defaultFCP+")")
	fs.Var(&indexes, "index", "an index `URI` to search (repeat for several)")
	n := fs.Int("n", 10, "show at most `N` results")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	query := strings.Join(pos, " ")
	if len(index.Words(query)) == 0 {
		return usageError("search", "give words to search for")
	}
	if len(indexes) == 0 {
		return usageError("search", "give --index URI: the index to search (a USK@… that `lethe index` printed)")
	}
	client, err := dialNode(ctx, fcpAddr(e, *fcpFlag))
	if err != nil {
		return err
	}
	defer client.Close()
	store := crawl.ClientStore{C: client}
	start := time.Now()
	var results []index.Result
	for _, u := range indexes {
		res, err := index.SearchURI(ctx, store, u, query, *n)
		if err != nil {
			return networkError("search "+u.String(), err)
		}
		results = append(results, res)
	}
	res := index.Merge(results, *n)
	for i, h := range res.Hits {
		fmt.Fprintf(e.stdout, "%d. %s\n   %s\n", i+1, h.Title, h.URI)
		if h.Snippet != "" {
			fmt.Fprintf(e.stdout, "   %s\n", h.Snippet)
		}
	}
	fmt.Fprintf(e.stderr, "%d of %d matching documents, %d index blocks fetched, %s\n",
		len(res.Hits), res.Matches, res.Blocks, elapsed(time.Since(start)))
	return nil
}
