package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"lethe/datastore"
	"lethe/node"
)

func init() {
	register(&command{
		name: "store",
		args: "check [--repair] [--dir DIR]",
		summary: `Check the datastore of a stopped node, and repair it.
"lethe store check" reads every record and index of the store in the data directory and
says whether it is healthy. With --repair it drops the records that fail verification and
rebuilds the indexes and counts from what is left. The node must be stopped: the store of a
running node is refused.`,
		run: runStore,
	})
}

// storeLockWait is how long `lethe store check` waits for the store's lock before it says a
// node is running there.
const storeLockWait = 200 * time.Millisecond

func runStore(ctx context.Context, e *env, args []string) error {
	flags := newFlags(e, commands["store"])
	dir := flags.String("dir", "", "the node's data directory (default $LETHE_DIR or ~/.local/share/lethe)")
	repair := flags.Bool("repair", false, "drop damaged records and rebuild the indexes")
	pos, err := parseFlags(flags, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] != "check" {
		return usageError("store", "the store command is `lethe store check`")
	}
	if *dir == "" {
		*dir = defaultDir(e)
	}
	path := node.StorePath(*dir)
	opts := datastore.Options{LockTimeout: storeLockWait}
	if *repair {
		rep, err := datastore.RepairFile(path, opts)
		if err := storeOpenError(path, *dir, err); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "store %s: %d damaged or unplaced records dropped, %d index entries redone", path, rep.Dropped, rep.Reindexed)
		if rep.Recounted {
			fmt.Fprint(e.stdout, ", counts rebuilt")
		}
		fmt.Fprintln(e.stdout)
		if err != nil {
			fmt.Fprintf(e.stdout, "store %s: still damaged after the repair\n", path)
			return fail(exitFailed, "move store.db away: the node then starts an empty store, and the network holds other copies of its blocks", "%v", err)
		}
		printStoreHealthy(e.stdout, path, rep.After)
		return nil
	}
	st, err := datastore.CheckFile(path, opts)
	if errors.Is(err, datastore.ErrBeyondRepair) {
		fmt.Fprintf(e.stdout, "store %s: damaged beyond repair\n", path)
	}
	if err := storeOpenError(path, *dir, err); err != nil {
		return err
	}
	if err != nil {
		fmt.Fprintf(e.stdout, "store %s: damaged\n", path)
		return fail(exitFailed, "`lethe store check --repair --dir "+*dir+"` drops the damaged records and rebuilds the indexes", "%v", err)
	}
	printStoreHealthy(e.stdout, path, st)
	return nil
}

// storeOpenError is the command's error when the store could not be opened at all: nil when
// it was (whatever the check found).
func storeOpenError(path, dir string, err error) error {
	switch {
	case err == nil, errors.Is(err, datastore.ErrCorrupt) && !errors.Is(err, datastore.ErrBeyondRepair):
		return nil
	case errors.Is(err, datastore.ErrLocked):
		return fail(exitFailed, "stop the node first (Ctrl-C, or systemctl stop lethe): a store is checked only while no node uses it",
			"a node is running on %s: its store is in use", dir)
	case errors.Is(err, fs.ErrNotExist):
		return fail(exitFile, "a node makes its store on its first run; --dir names the data directory", "%s: no store there", path)
	case errors.Is(err, datastore.ErrBeyondRepair):
		return fail(exitFailed, "move store.db away: the node then starts an empty store, and the network holds other copies of its blocks", "%v", err)
	}
	return fail(exitFailed, "", "%v", err)
}

func printStoreHealthy(w io.Writer, path string, st datastore.Stats) {
	fmt.Fprintf(w, "store %s: healthy\n", path)
	fmt.Fprintf(w, "  store  %d blocks, %s\n", st.Store.Blocks, formatBytes(st.Store.Bytes))
	fmt.Fprintf(w, "  cache  %d blocks, %s\n", st.Cache.Blocks, formatBytes(st.Cache.Bytes))
}
