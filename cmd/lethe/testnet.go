package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"lethe/node"
)

func init() {
	register(&command{
		name: "testnet",
		args: "[-n 12] [--dir DIR]",
		summary: `Start a test network of N nodes on this machine, until Ctrl-C.
The nodes run in this one process, linked over real TLS connections on 127.0.0.1 in a
small-world graph (a ring plus long links), as friends at fixed, evenly spaced locations.
The first node serves the client protocol on ` + node.DefaultFCPAddr + ` and the browsing proxy on
` + node.DefaultProxyAddr + `, so the other commands work against it as they are. The data
lives in a temporary directory, removed on exit, unless --dir is given.`,
		run: runTestnet,
	})
}

func runTestnet(ctx context.Context, e *env, args []string) error {
	flags := newFlags(e, commands["testnet"])
	var (
		n        = flags.Int("n", node.DefaultTestnetNodes, "number of nodes")
		dir      = flags.String("dir", "", "keep the nodes' data directories here (default: a temporary directory, removed on exit)")
		fcpAddr  = flags.String("fcp", node.DefaultFCPAddr, "the first node's client protocol address")
		proxy    = flags.String("proxy", node.DefaultProxyAddr, "the first node's browsing proxy address")
		maxPeers = flags.Int("max-peers", node.DefaultTestnetPeers, "each node's MaxPeers (also sets the anonymity stem's mean length, 2 + max-peers/2 hops)")
		seed     = flags.Uint64("seed", 1, "picks the long links; the same seed gives the same network")
		verbose  = flags.Bool("v", false, "log more")
	)
	pos, err := parseFlags(flags, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError("testnet", "testnet takes no arguments")
	}
	if *n < 2 || *n > 200 {
		return usageError("testnet", "-n must be between 2 and 200, not %d", *n)
	}
	start := time.Now()
	fmt.Fprintf(e.stderr, "starting %d nodes…\n", *n)
	tn, err := node.StartTestnet(ctx, node.TestnetConfig{
		Nodes:     *n,
		Dir:       *dir,
		FCPAddr:   *fcpAddr,
		ProxyAddr: *proxy,
		MaxPeers:  *maxPeers,
		Seed:      *seed,
		Logger:    textLogger(e.stderr, *verbose),
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fail(exitFailed, "", "%v", err)
	}
	defer tn.Close()
	printTestnet(e.stdout, tn, time.Since(start))
	<-ctx.Done()
	fmt.Fprintln(e.stderr, "\nstopping the test network…")
	if err := tn.Close(); err != nil {
		return fail(exitFailed, "", "stop: %v", err)
	}
	fmt.Fprintln(e.stderr, "stopped")
	return nil
}

func printTestnet(w io.Writer, tn *node.Testnet, took time.Duration) {
	first := tn.Nodes[0]
	fmt.Fprintf(w, "Lethe test network: %d nodes on 127.0.0.1, %d links, ready in %s.\n", len(tn.Nodes), len(tn.Links), took.Round(10*time.Millisecond))
	for _, note := range tn.Notes {
		fmt.Fprintf(w, "note: %s\n", note)
	}
	fmt.Fprintf(w, "  client protocol (FCP)  %s\n", first.FCPAddr())
	if a := first.ProxyAddr(); a != "" {
		fmt.Fprintf(w, "  browsing proxy         http://%s/\n", a)
	}
	fmt.Fprintf(w, "  data                   %s\n", tn.Dir)
	fcpFlag := ""
	if first.FCPAddr() != node.DefaultFCPAddr {
		fcpFlag = " --fcp " + first.FCPAddr()
	}
	far := tn.Nodes[tn.Farthest(0)]
	fmt.Fprintf(w, `
Try, in another terminal:
  echo "Hello, Lethe" > hello.txt
  lethe insert%[1]s hello.txt                     prints CHK@…/hello.txt
  lethe fetch%[1]s CHK@…/hello.txt -o copy.txt    fetches it back, verified
  lethe insert%[1]s ./mysite --usk mysite          a directory as an updatable site
  lethe status --dir %[2]s
  lethe fetch --fcp %[3]s CHK@…/hello.txt -o far.txt   from the node farthest away
`, fcpFlag, filepath.Join(tn.Dir, "node-00"), far.FCPAddr())
	if a := first.ProxyAddr(); a != "" {
		fmt.Fprintf(w, "  open http://%s/CHK@…/hello.txt in a browser\n", a)
	}
	fmt.Fprintln(w, "\nPress Ctrl-C to stop.")
}
