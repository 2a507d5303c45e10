package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"lethe/crypto"
	"lethe/node"
)

func init() {
	register(&command{
		name: "peers",
		args: "[list | add NODEREF-FILE|- | remove [--] ID | ref] [--dir DIR]",
		summary: `List, add or remove the node's friends (darknet peers), or print its own noderef.
A friend is another node whose noderef you add and who adds yours. "add" reads noderefs from
a file (or - for standard input); "remove" takes the start of a friend's ID, as "list" shows
it. A running node picks changes up within seconds.`,
		run: runPeers,
	})
}

func runPeers(ctx context.Context, e *env, args []string) error {
	flags := newFlags(e, commands["peers"])
	dir := flags.String("dir", "", "the node's data directory (default $LETHE_DIR or ~/.local/share/lethe)")
	pos, err := parseFlags(flags, args)
	if err != nil {
		return err
	}
	if *dir == "" {
		*dir = defaultDir(e)
	}
	sub := "list"
	if len(pos) > 0 {
		sub, pos = pos[0], pos[1:]
	}
	switch sub {
	case "list":
		if len(pos) != 0 {
			return usageError("peers", "peers list takes no arguments")
		}
		return listPeers(e.stdout, *dir)
	case "add":
		if len(pos) != 1 {
			return usageError("peers", "give one file of noderefs to add (or - for standard input)")
		}
		return addPeers(e, *dir, pos[0])
	case "remove":
		if len(pos) != 1 {
			return usageError("peers", "give the start of the ID of the friend to remove")
		}
		gone, err := node.RemoveFriend(*dir, pos[0])
		if err != nil {
			return fail(exitUsage, "`lethe peers list` shows the friends' IDs", "%v", err)
		}
		for _, r := range gone {
			fmt.Fprintf(e.stdout, "removed %s\n", r.ID())
		}
		return nil
	case "ref":
		st, err := readStatus(*dir)
		if err != nil {
			return err
		}
		fmt.Fprint(e.stdout, st.NodeRef)
		return nil
	}
	return usageError("peers", "unknown peers command %q (list, add, remove or ref)", sub)
}

func addPeers(e *env, dir, from string) error {
	var text []byte
	var err error
	if from == "-" {
		text, err = io.ReadAll(io.LimitReader(e.stdin, 1<<20))
	} else {
		text, err = os.ReadFile(from)
	}
	if err != nil {
		return fileError("peers", from, err)
	}
	refs, err := node.ParseNodeRefs(string(text))
	if err != nil {
		return fail(exitUsage, "paste the noderef whole, from its lethe-noderef v1 line to its signature line", "%v", err)
	}
	if len(refs) == 0 {
		return fail(exitUsage, "", "%s holds no noderef", from)
	}
	var own crypto.NodeID
	if id, err := transportID(dir); err == nil {
		own = id
	}
	if _, err := node.AddFriend(dir, own, refs...); err != nil {
		return fail(exitFile, "", "%v", err)
	}
	for _, r := range refs {
		fmt.Fprintf(e.stdout, "added %s (%s)\n", r.ID(), strings.Join(r.Addresses(), ", "))
	}
	if _, err := node.ReadStatus(dir); err != nil {
		fmt.Fprintln(e.stderr, "lethe: the node is not running; it will link to them when it starts")
	}
	return nil
}

// transportID is the ID of the node whose data directory dir is, from its status file.
func transportID(dir string) (crypto.NodeID, error) {
	st, err := node.ReadStatus(dir)
	if err != nil {
		return crypto.NodeID{}, err
	}
	return crypto.ParseNodeID(st.ID)
}

func listPeers(w io.Writer, dir string) error {
	friends, err := node.ReadNodeRefs(node.FriendsFile(dir))
	if err != nil {
		return fail(exitFile, "", "%v", err)
	}
	connected := map[string]node.PeerStatus{}
	st, stErr := node.ReadStatus(dir)
	if stErr == nil {
		for _, p := range st.Peers {
			connected[p.ID] = p
		}
	}
	fmt.Fprintf(w, "%d friends\n", len(friends))
	for _, r := range friends {
		state := "not connected"
		if stErr != nil {
			state = "node not running"
		} else if p, ok := connected[r.ID().String()]; ok {
			state = fmt.Sprintf("connected, location %.4f", p.Location)
		}
		fmt.Fprintf(w, "  %s  %-30s %s\n", r.ID(), strings.Join(r.Addresses(), ","), state)
	}
	strangers := 0
	for _, p := range st.Peers {
		if !p.Friend {
			strangers++
		}
	}
	if strangers > 0 {
		fmt.Fprintf(w, "%d opennet peers (strangers) connected\n", strangers)
	}
	return nil
}
