package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"lethe/crypto"
	"lethe/datastore"
	"lethe/node"
)

// storeDir makes a data directory whose store holds n CHK blocks, half stored and half
// cached, as a stopped node leaves it.
func storeDir(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	s, err := datastore.Open(node.StorePath(dir), datastore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range n {
		block, key, err := crypto.EncodeCHKConvergent([]byte(fmt.Sprintf("block %d of the store check", i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Put(crypto.CHK, key.Routing, block, []datastore.Area{datastore.AreaStore, datastore.AreaCache}[i%2]); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// damageRecords flips a byte in the middle of every page of the store's file that holds
// sealed block bytes only: a page with almost no zero bytes, which bbolt's own pages (meta,
// branches, leaves of small index entries, the free list) never are. Every record (each
// spans several such pages) then fails its CRC. Stale copies that bbolt's copy-on-write left
// in free pages are flipped too, which harms nothing.
func damageRecords(t *testing.T, dir string) {
	t.Helper()
	path := node.StorePath(dir)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	flipped := 0
	for off := 2 * page; off+page <= len(data); off += page {
		if zeros := strings.Count(string(data[off:off+page]), "\x00"); zeros < 64 {
			data[off+page/2] ^= 0x01
			flipped++
		}
	}
	if flipped == 0 {
		t.Fatal("no page of sealed block bytes in the store")
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestStoreCheck(t *testing.T) {
	ctx := context.Background()
	t.Run("healthy", func(t *testing.T) {
		dir := storeDir(t, 4)
		r := lethe(t, ctx, nil, nil, "store", "check", "--dir", dir)
		r.wantCode(t, exitOK)
		if !strings.Contains(r.stdout, "healthy") || !strings.Contains(r.stdout, "store  2 blocks") || !strings.Contains(r.stdout, "cache  2 blocks") {
			t.Errorf("check of a healthy store:\n%s", r.stdout)
		}
	})
	t.Run("damaged records, then repaired", func(t *testing.T) {
		dir := storeDir(t, 3)
		damageRecords(t, dir)
		r := lethe(t, ctx, nil, nil, "store", "check", "--dir", dir)
		r.wantCode(t, exitFailed)
		if !strings.Contains(r.stdout, "damaged") || !strings.Contains(r.stderr, "CRC") || !strings.Contains(r.stderr, "--repair") {
			t.Errorf("check of a damaged store:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
		}
		r = lethe(t, ctx, nil, nil, "store", "check", "--repair", "--dir", dir)
		r.wantCode(t, exitOK)
		if !strings.Contains(r.stdout, "3 damaged or unplaced records dropped") || !strings.Contains(r.stdout, "healthy") {
			t.Errorf("repair:\n%s\n%s", r.stdout, r.stderr)
		}
		r = lethe(t, ctx, nil, nil, "store", "check", "--dir", dir)
		r.wantCode(t, exitOK)
		if !strings.Contains(r.stdout, "healthy") || strings.Count(r.stdout, " 0 blocks") != 2 {
			t.Errorf("check after the repair (no block left):\n%s", r.stdout)
		}
	})
	// The damage of bbolt's own pages, as the datastore's damage tests make it: the headers of
	// its pages, or both meta pages (the file's header). Neither is repaired; the file is
	// left as it was.
	for _, tc := range []struct {
		name   string
		damage func(data []byte)
	}{
		{"damaged pages", func(data []byte) {
			for off := 2 * 4096; off+16 <= len(data); off += 4096 {
				data[off+8], data[off+9] = 0xff, 0xff // a page of no kind bbolt knows
			}
		}},
		{"damaged header", func(data []byte) {
			for _, page := range []int{0, 4096} {
				for i := page + 24; i < page+80; i++ { // past the magic: the meta fields and checksum
					data[i] ^= 0x5a
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := os.ReadFile(node.StorePath(storeDir(t, 2)))
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(data)
			// Each command gets its own copy: a store bbolt gives up on while opening stays
			// mapped, and so locked, in the process that tried (here the test's own).
			for _, args := range [][]string{{"store", "check"}, {"store", "check", "--repair"}} {
				dir := t.TempDir()
				path := node.StorePath(dir)
				if err := os.WriteFile(path, data, 0o600); err != nil {
					t.Fatal(err)
				}
				r := lethe(t, ctx, nil, nil, append(args, "--dir", dir)...)
				r.wantCode(t, exitFailed)
				if !strings.Contains(r.stdout, "damaged beyond repair") && args[len(args)-1] == "check" ||
					!strings.Contains(r.stderr, "beyond repair") || !strings.Contains(r.stderr, "move store.db away") ||
					strings.Contains(r.stderr, "--repair") {
					t.Errorf("%v of a store with %s:\nstdout:\n%s\nstderr:\n%s", args, tc.name, r.stdout, r.stderr)
				}
				if after, _ := os.ReadFile(path); string(after) != string(data) {
					t.Errorf("%v changed a store it could not repair", args)
				}
			}
		})
	}
	t.Run("running node", func(t *testing.T) {
		dir := storeDir(t, 1)
		s, err := datastore.Open(node.StorePath(dir), datastore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for _, args := range [][]string{{"store", "check", "--dir", dir}, {"store", "check", "--repair", "--dir", dir}} {
			r := lethe(t, ctx, nil, nil, args...)
			r.wantCode(t, exitFailed)
			if !strings.Contains(r.stderr, "a node is running on "+dir) || !strings.Contains(r.stderr, "stop the node first") {
				t.Errorf("%v on a running node's store:\n%s", args, r.stderr)
			}
		}
	})
	t.Run("no store", func(t *testing.T) {
		dir := t.TempDir()
		r := lethe(t, ctx, nil, nil, "store", "check", "--dir", dir)
		r.wantCode(t, exitFile)
		if !strings.Contains(r.stderr, "no store there") {
			t.Errorf("check of an empty directory:\n%s", r.stderr)
		}
		if _, err := os.Stat(node.StorePath(dir)); err == nil {
			t.Error("the check made a store")
		}
	})
	t.Run("usage", func(t *testing.T) {
		lethe(t, ctx, nil, nil, "store").wantCode(t, exitUsage)
		lethe(t, ctx, nil, nil, "store", "fix").wantCode(t, exitUsage)
	})
}
