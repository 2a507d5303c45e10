package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"lethe/crawl"
	"lethe/crypto"
	"lethe/index"
)

func init() {
	register(&command{
		name: "index",
		args: "DIR --site URI | URI... --usk NAME [--ssk KEY] [--title TEXT]",
		summary: `Build a search index and publish it as an edition of an updatable key.
From a directory: the files of DIR, which you published (or will publish) as the site --site
URI, so that results link into that site. From URIs: the pages found by following links
inside Lethe from them, through the node and the content filter, at most --depth links deep
and --max-docs documents, one fetch every --delay. Publishing again with the same --usk and
--ssk makes the next edition: only what changed is inserted. Share the printed USK@…; readers
bookmark it in the proxy or give it to ` + "`lethe search --index`" + `.`,
		run: runIndex,
	})
}

func runIndex(ctx context.Context, e *env, args []string) error {
	c := commands["index"]
	fs := newFlags(e, c)
	var (
		fcpFlag  = fs.String("fcp", "", "the node's client protocol address (default $LETHE_FCP or "+defaultFCP+")")
		site     = fs.String("site", "", "with DIR: the `URI` of the site DIR is published as")
		ssk      = fs.String("ssk", "", "publish under this SSK insert key (from `lethe keygen` or the first run)")
		usk      = fs.String("usk", "", "publish as an edition of the index `NAME`")
		edition  = fs.Int64("edition", 0, "the edition to publish; a taken one moves on to the next free")
		title    = fs.String("title", "", "the index's title, shown to searchers")
		depth    = fs.Int("depth", 3, "with URIs: links followed from each start")
		maxDocs  = fs.Int("max-docs", 1000, "with URIs: documents taken at most")
		delay    = fs.Duration("delay", 100*time.Millisecond, "with URIs: time between two fetches")
		sameSite = fs.Bool("same-site", false, "with URIs: stay inside the start URIs' sites")
	)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageError("index", "give a directory, or URIs to start from")
	}
	if *usk == "" {
		return usageError("index", "give --usk NAME: an index is published as an edition of an updatable key")
	}
	target, generated, err := insertTarget(*ssk, *usk, *edition, *usk, true)
	if err != nil {
		return err
	}
	var corpus index.Corpus
	st, statErr := os.Stat(pos[0])
	dir := statErr == nil && st.IsDir()
	if dir {
		if len(pos) != 1 {
			return usageError("index", "give one directory")
		}
		if *site == "" {
			return usageError("index", "give --site URI: the site the directory is published as, so that results link there")
		}
	}
	client, err := dialNode(ctx, fcpAddr(e, *fcpFlag))
	if err != nil {
		return err
	}
	defer client.Close()
	store := crawl.ClientStore{C: client}
	if generated {
		ins, _, err := client.GenerateSSK(ctx)
		if err != nil {
			return networkError("generate a key", err)
		}
		target.Seed, target.Crypto = ins.Seed, ins.Crypto
		fmt.Fprintf(e.stderr, "lethe: a new key for index %q. Keep its insert key secret; you need it to publish the next edition:\n  %s\n  next time: lethe index … --usk %s --ssk %s\n",
			*usk, ins.String(), *usk, ins.String())
	}
	start := time.Now()
	if dir {
		base, err := parseURIArg("index", *site)
		if err != nil {
			return err
		}
		corpus = crawl.Dir(pos[0], base, 0)
	} else {
		var starts []crypto.RequestURI
		for _, a := range pos {
			u, err := parseURIArg("index", a)
			if err != nil {
				return err
			}
			starts = append(starts, u)
		}
		fmt.Fprintf(e.stderr, "crawling from %d URIs\n", len(starts))
		spool, err := crawl.Spider(ctx, store, starts, crawl.SpiderConfig{MaxDocs: *maxDocs, MaxDepth: *depth, Delay: *delay, SameSite: *sameSite})
		if err != nil {
			return networkError("crawl", err)
		}
		defer spool.Close()
		fmt.Fprintf(e.stderr, "crawled %d documents (%d bytes of text)\n", spool.Docs, spool.Bytes)
		corpus = spool.Corpus()
	}
	// The previous edition, if there is one, so that only what changed is inserted.
	var prev *index.Index
	if !generated {
		if req, err := target.RequestURI(); err == nil {
			if ix, err := index.Open(ctx, store, req); err == nil {
				prev = ix
				if latest := ix.URI.Edition; latest >= target.Edition {
					target = target.WithEdition(latest + 1)
				}
			}
		}
	}
	rep, err := index.Publish(ctx, store, store, target, prev, corpus, index.Options{Title: *title})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		return networkError("index", err)
	}
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	fmt.Fprintf(e.stderr, "indexed %d documents (%d new or changed, %d removed, %d kept) in %s: %d postings, %d nodes inserted, heap at most %d MiB\n",
		rep.Root.Docs, rep.Added, rep.Removed, rep.Kept, elapsed(time.Since(start)), rep.Build.Postings, rep.Build.Nodes, mem.Sys>>20)
	fmt.Fprintln(e.stdout, rep.URI.String())
	return nil
}

// indexArgs are the --index flags of search.
type indexArgs []crypto.RequestURI

func (a *indexArgs) String() string {
	var s []string
	for _, u := range *a {
		s = append(s, u.String())
	}
	return strings.Join(s, ",")
}

func (a *indexArgs) Set(v string) error {
	u, err := crypto.ParseURI(strings.TrimSpace(v))
	if err != nil {
		return err
	}
	*a = append(*a, u)
	return nil
}
