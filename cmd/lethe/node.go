package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"lethe/datastore"
	"lethe/node"
	"lethe/transport"
)

func init() {
	register(&command{
		name: "node",
		args: "[flags]",
		summary: `Run a storage node until Ctrl-C.
The node keeps its identity, store, friends and seeds in its data directory (--dir), made on
the first run. A darknet node (the default) links only to friends: exchange noderefs and add
theirs with ` + "`lethe peers add`" + `. An opennet node (--opennet) also takes strangers,
found through seed nodes (--seed FILE, or the seeds file in the data directory). Settings
may also come from a config file (--config, or lethe.conf in the data directory), one
"name = value" a line with the flags' names; the command line wins.`,
		run: runNode,
	})
}

func runNode(ctx context.Context, e *env, args []string) error {
	c := commands["node"]
	flags := newFlags(e, c)
	var (
		dir        = flags.String("dir", "", "data directory (default $LETHE_DIR or ~/.local/share/lethe)")
		config     = flags.String("config", "", "config `FILE` (default: lethe.conf in the data directory, if there)")
		listen     = flags.String("listen", node.DefaultListenAddr, "where other nodes link to this one (`host:port`)")
		quicAddr   = flags.String("quic", "", "where QUIC links are taken over UDP (`host:port`; default: --listen's, over UDP), or off")
		portMap    = flags.Bool("port-mapping", true, "ask the router to forward the node's ports (UPnP IGD, NAT-PMP) while it runs")
		fcpAddr    = flags.String("fcp", node.DefaultFCPAddr, "where the client protocol listens, or off")
		proxyAddr  = flags.String("proxy", node.DefaultProxyAddr, "where the browsing proxy listens, or off")
		storeSize  = byteSize(datastore.DefaultStoreBytes)
		cacheSize  = byteSize(datastore.DefaultCacheBytes)
		bandwidth  byteSize
		upload     byteSize
		download   byteSize
		monthlyCap byteSize
		maxPeers   = flags.Int("max-peers", 20, "peers the node aims for")
		opennet    = flags.Bool("opennet", false, "take strangers as peers, found through seed nodes")
		seedNode   = flags.Bool("seed-node", false, "with --opennet: be a seed that newcomers announce themselves through")
		stem       = flags.Bool("stem", false, "send this node's own requests and inserts along the stem instead of through tunnels")
		verbose    = flags.Bool("v", false, "log more (links, peers, requests)")
		logFormat  = flags.String("log-format", logAuto, "how logs are written: text, journal (<N> priority prefix, no time: for systemd), json, or auto (journal when standard error is the journal)")
		passFile   = flags.String("passphrase-file", "", "read the passphrase that seals the identity file from `FILE`")
		addresses  stringList
		seedFiles  stringList
		notInFiles = map[string]bool{"config": true, "dir": true}
	)
	flags.Var(&storeSize, "store-size", "bytes of long-term store (like 10GiB)")
	flags.Var(&cacheSize, "cache-size", "bytes of cache for blocks passing through")
	flags.Var(&bandwidth, "bandwidth", "bytes per second the node sends for others (0: no limit)")
	flags.Var(&upload, "upload", "bytes per second all links may send, relayed and own (like 1MiB; 0: no limit)")
	flags.Var(&download, "download", "bytes per second all links may receive, relayed and own (0: no limit)")
	flags.Var(&monthlyCap, "monthly-cap", "bytes sent and received in a calendar month, past which links trickle (like 500GB; 0: none)")
	flags.Var(&addresses, "address", "`host:port` other nodes dial, as the noderef says (repeat for several; default: from --listen)")
	flags.Var(&seedFiles, "seed", "`FILE` of seed noderefs for opennet (repeat for several)")
	pos, err := parseFlags(flags, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError("node", "lethe node takes no arguments (got %q)", pos[0])
	}
	if *dir == "" {
		*dir = defaultDir(e)
	}
	confPath := *config
	if confPath == "" {
		confPath = filepath.Join(*dir, "lethe.conf")
	}
	if text, err := os.ReadFile(confPath); err == nil {
		settings, err := parseConfig(string(text))
		if err == nil {
			err = applyConfig(flags, settings, confPath, notInFiles)
		}
		if err != nil {
			return fail(exitUsage, "", "%v", err)
		}
	} else if *config != "" || !errors.Is(err, fs.ErrNotExist) {
		return fileError("node", confPath, err)
	}

	cfg := node.Config{
		Dir:            *dir,
		ListenAddr:     *listen,
		QUICAddr:       *quicAddr,
		PortMapping:    *portMap,
		Addresses:      addresses,
		StoreBytes:     int64(storeSize),
		CacheBytes:     int64(cacheSize),
		MaxPeers:       *maxPeers,
		BandwidthLimit: int64(bandwidth),
		UploadLimit:    int64(upload),
		DownloadLimit:  int64(download),
		MonthlyCap:     int64(monthlyCap),
		Opennet:        *opennet,
		Stem:           *stem,
		SeedNode:       *seedNode,
		FCPAddr:        *fcpAddr,
		ProxyAddr:      *proxyAddr,
	}
	if cfg.Logger, err = newLogger(e.stderr, *verbose, *logFormat, e.getenv); err != nil {
		return usageError("node", "--log-format: %v", err)
	}
	if *seedNode && !*opennet {
		return usageError("node", "--seed-node needs --opennet")
	}
	for _, f := range seedFiles {
		refs, err := node.ReadNodeRefs(f)
		if err != nil {
			return fail(exitFile, "a seeds file holds noderefs, each starting with its lethe-noderef v1 line", "--seed: %v", err)
		}
		if len(refs) == 0 {
			return fileError("node", f, fs.ErrNotExist)
		}
		cfg.Seeds = append(cfg.Seeds, refs...)
	}
	if *passFile != "" {
		b, err := os.ReadFile(*passFile)
		if err != nil {
			return fileError("node", *passFile, err)
		}
		cfg.Passphrase = strings.TrimRight(string(b), "\r\n")
	}

	n, err := node.New(cfg)
	if err != nil {
		return nodeError(err, cfg)
	}
	errc := make(chan error, 1)
	go func() { errc <- n.Run(ctx) }()
	select {
	case <-n.Ready():
		printStart(e.stdout, n, cfg)
		err = <-errc
	case err = <-errc:
	}
	if err != nil {
		return fail(exitFailed, "", "%v", err)
	}
	fmt.Fprintln(e.stderr, "lethe: node stopped")
	return nil
}

// nodeError explains why a node could not start.
func nodeError(err error, cfg node.Config) error {
	switch {
	case errors.Is(err, datastore.ErrLocked):
		return fail(exitFailed, "stop the other node, or give this one another --dir", "%v", err)
	case errors.Is(err, node.ErrAddrInUse):
		return fail(exitFailed, "is another node running? give other addresses with --listen, --fcp and --proxy (or off)", "%v", err)
	case errors.Is(err, transport.ErrIdentityPermissions):
		return fail(exitFile, "chmod 600 "+filepath.Join(cfg.Dir, "identity"), "%v", err)
	case errors.Is(err, datastore.ErrCorrupt):
		return fail(exitFile, "move "+filepath.Join(cfg.Dir, "store.db")+" aside to start with an empty store", "%v", err)
	}
	return fail(exitFailed, "", "%v", err)
}

// printStart tells the user what is running and, on a first run, what to do next.
func printStart(w io.Writer, n *node.Node, cfg node.Config) {
	mode := "darknet (friends only)"
	if cfg.Opennet {
		mode = "opennet (friends and strangers)"
	}
	if n.Created() {
		fmt.Fprintf(w, "Created a new Lethe node in %s.\n\n", n.Dir())
	}
	fmt.Fprintf(w, "Lethe node %s, %s\n", n.ID().Short(), mode)
	fmt.Fprintf(w, "  links:           %s\n", n.LinkAddr())
	if a := n.FCPAddr(); a != "" {
		fmt.Fprintf(w, "  client protocol: %s\n", a)
	}
	if a := n.ProxyAddr(); a != "" {
		fmt.Fprintf(w, "  browsing proxy:  http://%s/\n", a)
	}
	fmt.Fprintf(w, "\nThis node's noderef (give it to friends; they add it with `lethe peers add FILE`):\n\n%s\n", n.Ref().Text())
	if n.Created() {
		fmt.Fprint(w, `What next:
  lethe peers add FRIEND.noderef   add a friend's noderef (both of you add the other's)
  lethe status                     peers, store use, traffic
  lethe insert FILE                insert a file once the node has peers
`)
	}
	fmt.Fprintln(w, "Press Ctrl-C to stop.")
}
