package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"lethe/node"
)

func init() {
	register(&command{
		name:    "status",
		args:    "[--dir DIR]",
		summary: "Show the running node's peers, store use and traffic.",
		run:     runStatus,
	})
}

func runStatus(ctx context.Context, e *env, args []string) error {
	flags := newFlags(e, commands["status"])
	dir := flags.String("dir", "", "the node's data directory (default $LETHE_DIR or ~/.local/share/lethe)")
	pos, err := parseFlags(flags, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError("status", "status takes no arguments")
	}
	if *dir == "" {
		*dir = defaultDir(e)
	}
	st, err := readStatus(*dir)
	if err != nil {
		return err
	}
	printStatus(e.stdout, st)
	return nil
}

// readStatus reads a running node's status, or explains that none runs there.
func readStatus(dir string) (node.Status, error) {
	st, err := node.ReadStatus(dir)
	if errors.Is(err, node.ErrNotRunning) {
		return st, fail(exitNoNode, "start one with `lethe node --dir "+dir+"`; a test network's nodes are in the directory `lethe testnet` prints",
			"no node is running on %s", dir)
	}
	if err != nil {
		return st, fail(exitFile, "", "%v", err)
	}
	return st, nil
}

func printStatus(w io.Writer, st node.Status) {
	mode := "darknet"
	if st.Opennet {
		mode = "opennet"
	}
	if st.Testnet {
		mode += ", test network"
	}
	fmt.Fprintf(w, "node %s (%s), location %.4f, up %s\n", short(st.ID), mode, st.Location, time.Since(st.Started).Round(time.Second))
	fmt.Fprintf(w, "  version          %s\n", st.Build.String())
	fmt.Fprintf(w, "  data directory   %s\n", st.Dir)
	fmt.Fprintf(w, "  links            %s\n", st.LinkAddr)
	if st.FCPAddr != "" {
		fmt.Fprintf(w, "  client protocol  %s\n", st.FCPAddr)
	}
	if st.ProxyAddr != "" {
		fmt.Fprintf(w, "  browsing proxy   http://%s/\n", st.ProxyAddr)
	}
	fmt.Fprintf(w, "  store            %s of %s (%d blocks)\n", formatBytes(st.Store.Bytes), bound(st.Store.Bound), st.Store.Blocks)
	fmt.Fprintf(w, "  cache            %s of %s (%d blocks)\n", formatBytes(st.Cache.Bytes), bound(st.Cache.Bound), st.Cache.Blocks)
	fmt.Fprintf(w, "  traffic          %s in, %s out (links now open)\n", formatBytes(int64(st.BytesIn)), formatBytes(int64(st.BytesOut)))
	fmt.Fprintf(w, "  limits           upload %s, download %s, monthly cap %s; %s used in %s\n", rateOrNone(st.Links.UploadLimit),
		rateOrNone(st.Links.DownloadLimit), sizeOrNone(st.Links.MonthlyCap), formatBytes(st.Links.MonthUsed), st.Links.Month)
	if st.Links.CapReached {
		fmt.Fprintf(w, "  MONTHLY CAP      reached: the links trickle until the month ends; raise --monthly-cap to lift it\n")
	}
	fmt.Fprintf(w, "  requests         %d from peers (%d found here or beyond), %d inserts; %d fetches and %d inserts of this node's user\n",
		st.Routing.Requests, st.Routing.Found, st.Routing.Inserts, st.Routing.LocalRequests, st.Routing.LocalInserts)
	if st.DiskFull {
		fmt.Fprintf(w, "  DISK FULL        the store's disk refused %d writes: blocks offered are not kept; free space on it, or lower --store-size\n", st.DiskFullWrites)
	}
	if st.Inserts+st.Fetches > 0 {
		fmt.Fprintf(w, "  running now      %d inserts, %d fetches\n", st.Inserts, st.Fetches)
	}
	printReach(w, st.Reach)
	for _, u := range st.Uploads {
		state := "uploading"
		if u.Failing {
			state = "failed, tried again soon"
		}
		fmt.Fprintf(w, "  upload           %d of %d blocks in the network (%s, attempt %d)\n", u.Uploaded, u.Blocks, state, u.Attempts)
	}
	fmt.Fprintf(w, "peers: %d connected, %d friends\n", len(st.Peers), st.Friends)
	for _, p := range st.Peers {
		kind := "stranger"
		if p.Friend {
			kind = "friend"
		}
		loc := "?"
		if p.Location >= 0 {
			loc = fmt.Sprintf("%.4f", p.Location)
		}
		fmt.Fprintf(w, "  %s  %-8s location %-6s  %s in, %s out, up %s\n", short(p.ID), kind, loc,
			formatBytes(int64(p.BytesIn)), formatBytes(int64(p.BytesOut)), time.Since(p.Since).Round(time.Second))
	}
	if len(st.Peers) == 0 {
		fmt.Fprintln(w, "  none: add friends with `lethe peers add FILE`, or run the node with --opennet and seeds")
	}
	if n := len(st.Errors); n > 0 {
		fmt.Fprintln(w, "recent warnings:")
		for _, e := range st.Errors[max(0, n-5):] {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
}

// printReach says how other nodes reach this one, and what the user can do about it.
func printReach(w io.Writer, r node.ReachStatus) {
	line := r.State
	if r.Outside != "" {
		line += ", seen from outside at " + r.Outside
	}
	if len(r.Mapped) > 0 {
		line += ", " + r.Mapper + " mapped " + strings.Join(r.Mapped, ", ")
	}
	if r.PunchesTried > 0 {
		line += fmt.Sprintf(", %d of %d hole punches linked", r.PunchesLinked, r.PunchesTried)
	}
	fmt.Fprintf(w, "  reachability     %s\n", line)
	if r.Advice != "" {
		fmt.Fprintf(w, "                   %s\n", r.Advice)
	}
}

func bound(b int64) string {
	if b < 0 {
		return "0 (off)"
	}
	return formatBytes(b)
}

func short(id string) string { return truncate(id, 8) }

func rateOrNone(b int64) string {
	if b <= 0 {
		return "unlimited"
	}
	return formatBytes(b) + "/s"
}

func sizeOrNone(b int64) string {
	if b <= 0 {
		return "none"
	}
	return formatBytes(b)
}
