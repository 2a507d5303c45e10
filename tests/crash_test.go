package tests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/datastore"
	"lethe/fcp"
	"lethe/wire"
)

// Bounds of the process tests' stores: room for every block the long variant inserts, so
// that each acknowledged file must survive. (A network over its capacity drops blocks by
// design: a full store keeps the blocks closest to its node and refuses farther ones.)
const (
	procStoreBytes = 256 << 20
	procCacheBytes = 32 << 20
)

// procArgs are the process nodes' flags: the stores' bounds, and the test network's MaxPeers,
// which keeps the anonymity stem (2 + MaxPeers/2 hops on average) shorter than these small
// networks are wide.
var procArgs = []string{"--store-size", "256MiB", "--cache-size", "32MiB", "--max-peers", "4"}

// checkStoreFile opens a stopped node's store as the node would, checks all of it, and
// returns what it holds.
func checkStoreFile(tb testing.TB, dir string) datastore.Stats {
	tb.Helper()
	s, err := datastore.Open(filepath.Join(dir, "store.db"), datastore.Options{StoreBytes: procStoreBytes, CacheBytes: procCacheBytes})
	if err != nil {
		tb.Fatalf("the store of %s does not open: %v", dir, err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		tb.Fatalf("the store of %s fails its check: %v", dir, err)
	}
	return s.Stats()
}

// TestCrashDuringInserts kills a node with SIGKILL while files are being inserted through it
// and into its store from four sides, restarts it on the same data directory, and checks what
// a user would: the store opens and passes its check, the node comes back with the blocks it
// had, and every file any node acknowledged before the kill is fetched byte for byte through
// the restarted node. LETHE_LONG=1 kills it 12 times.
func TestCrashDuringInserts(t *testing.T) {
	kills := 1
	if long() {
		kills = 12
	}
	start := time.Now()
	nodes := startProcNet(t, buildLethe(t), t.TempDir(), 4, procArgs...)
	victim := nodes[1]
	t.Logf("4 lethe node processes linked in %v", time.Since(start).Round(time.Millisecond))

	var log ackLog
	var midInsert int // kills that hit at least one insert in flight at the victim
	seed := uint64(1)
	for k := range kills {
		ctx, cancel := context.WithCancel(context.Background())
		var inflight atomic.Int32
		var killing atomic.Bool
		var roundAcks atomic.Int32
		var wg sync.WaitGroup
		for i, p := range nodes {
			c := p.client()
			for w := range 2 {
				s := seed<<8 | uint64(i*2+w)
				wg.Go(func() {
					r := rand.New(rand.NewPCG(s, uint64(k)))
					for j := 0; ctx.Err() == nil; j++ {
						data := randomBytes(64<<10+r.IntN(448<<10), byte(r.Uint32()))
						inflight.Add(1)
						name := fmt.Sprintf("crash-%d-%d-%d-%d.bin", k, i, w, j)
						uri, err := tryPut(ctx, c, data, name)
						inflight.Add(-1)
						if err != nil {
							if !killing.Load() && p != victim {
								// Only the kill may make an insert fail.
								t.Errorf("insert at node %d before the kill: %v", i, err)
							}
							if p == victim || ctx.Err() != nil {
								return
							}
							continue
						}
						log.add(acked{uri: uri, sum: sha256.Sum256(data), size: len(data), at: i})
						roundAcks.Add(1)
					}
				})
			}
		}
		seed++
		// Kill once the inserts are well under way: a few acknowledged, at a random moment.
		deadline := time.Now().Add(30 * time.Second)
		for roundAcks.Load() < 3 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(time.Duration(rand.IntN(1500)) * time.Millisecond)
		if inflight.Load() > 0 {
			midInsert++
		}
		killing.Store(true)
		victim.kill()
		cancel()
		wg.Wait()
		if !errIsKill(victim.err) {
			t.Fatalf("kill %d: the node exited with %v, not by SIGKILL", k+1, victim.err)
		}
		if roundAcks.Load() == 0 {
			t.Fatalf("kill %d: no insert was acknowledged in 30 s", k+1)
		}
		held := checkStoreFile(t, victim.dir)
		st := victim.start()
		if st.Store.Blocks != held.Store.Blocks || st.Cache.Blocks != held.Cache.Blocks {
			t.Errorf("kill %d: the checked store held %d+%d blocks, the restarted node reports %d+%d",
				k+1, held.Store.Blocks, held.Cache.Blocks, st.Store.Blocks, st.Cache.Blocks)
		}
		victim.waitLinked(len(nodes) - 1)
		t.Logf("kill %d: %d inserts acknowledged so far; the store held %d blocks in the store area, %d in the cache, and passed its check",
			k+1, len(log.list()), held.Store.Blocks, held.Cache.Blocks)
	}
	if midInsert == 0 {
		t.Errorf("none of the %d kills hit an insert in flight", kills)
	}

	// Every acknowledged file comes back through the restarted node.
	files := log.list()
	c := victim.client()
	fetchStart := time.Now()
	back := 0
	for _, a := range files {
		if fetchVerified(t, c, a, "after the kills") {
			back++
		}
	}
	if t.Failed() {
		t.Logf("victim's log:\n%s", victim.tail())
	}
	var total int
	for _, a := range files {
		total += a.size
	}
	t.Logf("%d kills (%d mid-insert); %d files (%.1f MiB) acknowledged, %d fetched back whole through the restarted node in %v; %v in all",
		kills, midInsert, len(files), float64(total)/(1<<20), back, time.Since(fetchStart).Round(time.Millisecond), time.Since(start).Round(time.Second))
}

// TestGracefulRestart stops a node with SIGTERM while its user inserts a file, and starts it
// again: the insert was acknowledged before the node stopped, the node stopped cleanly (exit
// 0, status file removed, store closed whole), and it comes back with the same identity,
// location, friends and store, links to its peers again and serves the file.
func TestGracefulRestart(t *testing.T) {
	nodes := startProcNet(t, buildLethe(t), t.TempDir(), 4, procArgs...)
	p := nodes[1]
	// Files inserted at its peers leave blocks in its store (how many depends on the keys:
	// insert until it holds some).
	var others []acked
	for i := 0; ; i++ {
		at := []int{0, 2, 3}[i%3]
		others = append(others, putAt(t, nodes[at], randomBytes(400<<10, byte(30+i)), fmt.Sprintf("before-%d.bin", i), at))
		if i >= 3 && heldAfter(p, 3*time.Second) {
			break
		}
		if i == 15 {
			t.Fatalf("the node holds no block after %d files were inserted at its peers", i+1)
		}
	}
	before := p.waitLinked(3)
	location, err := os.ReadFile(filepath.Join(p.dir, "location"))
	if err != nil {
		t.Fatal(err)
	}

	// Stop while the node's own user inserts: the insert is given time to finish.
	c := p.client()
	data := randomBytes(1<<20, 22)
	progressed := make(chan struct{})
	var once sync.Once
	type result struct {
		uri crypto.RequestURI
		err error
	}
	done := make(chan result, 1)
	go func() {
		uri, err := c.Put(context.Background(), fcp.PutRequest{URI: crypto.InsertURI{Type: crypto.CHK}, TargetFilename: "during.bin", Data: bytes.NewReader(data), DataLength: int64(len(data))},
			func(fcp.Progress) { once.Do(func() { close(progressed) }) })
		done <- result{uri, err}
	}()
	select {
	case <-progressed:
	case r := <-done: // finished before any progress was reported
		done <- r
	case <-time.After(time.Minute):
		t.Fatal("the insert reported no progress in a minute")
	}
	pre := p.status()
	p.stop()
	r := <-done
	if r.err != nil {
		t.Fatalf("the insert running when the node was told to stop: %v, want it acknowledged", r.err)
	}
	during := acked{uri: r.uri, sum: sha256.Sum256(data), size: len(data), at: 1}
	if _, err := os.Stat(filepath.Join(p.dir, "status.json")); !os.IsNotExist(err) {
		t.Errorf("status.json after a clean stop: %v, want it removed", err)
	}
	held := checkStoreFile(t, p.dir)
	if held.Store.Blocks+held.Cache.Blocks < pre.Store.Blocks+pre.Cache.Blocks {
		t.Errorf("the node held %d+%d blocks before it stopped, its store %d+%d after", pre.Store.Blocks, pre.Cache.Blocks, held.Store.Blocks, held.Cache.Blocks)
	}

	after := p.start()
	if after.ID != before.ID {
		t.Errorf("the node came back as %s, was %s", after.ID, before.ID)
	}
	ref, err := wire.ParseNodeRef(after.NodeRef)
	if err != nil || ref.ID().String() != before.ID {
		t.Errorf("the restarted node's noderef (%v) is not its old identity", err)
	}
	if after.Location != before.Location {
		t.Errorf("location %v after the restart, was %v", after.Location, before.Location)
	}
	if again, _ := os.ReadFile(filepath.Join(p.dir, "location")); string(again) != string(location) {
		t.Errorf("location file %q after the restart, was %q", again, location)
	}
	if after.Friends != 3 {
		t.Errorf("%d friends after the restart, want 3", after.Friends)
	}
	if after.Store.Blocks != held.Store.Blocks || after.Cache.Blocks != held.Cache.Blocks {
		t.Errorf("the store held %d+%d blocks when stopped, the restarted node reports %d+%d", held.Store.Blocks, held.Cache.Blocks, after.Store.Blocks, after.Cache.Blocks)
	}
	linked := p.waitLinked(3)
	t.Logf("restarted as %s with %d+%d blocks; linked to %d peers again", after.ID, after.Store.Blocks, after.Cache.Blocks, len(linked.Peers))
	for _, q := range nodes {
		if q != p {
			q.waitLinked(3)
		}
	}
	rc := p.client()
	for _, a := range others {
		fetchVerified(t, rc, a, "after the restart")
	}
	fetchVerified(t, rc, during, "after the restart")
	fetchVerified(t, nodes[2].client(), during, "at another node")
}

// putAt inserts a file at a process node and fails the test if it is not acknowledged.
func putAt(tb testing.TB, p *procNode, data []byte, name string, at int) acked {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	uri, err := tryPut(ctx, p.client(), data, name)
	if err != nil {
		tb.Fatalf("insert %s at node %d: %v", name, at, err)
	}
	return acked{uri: uri, sum: sha256.Sum256(data), size: len(data), at: at}
}

// heldAfter reports whether the node's status shows blocks in its store or cache within wait.
func heldAfter(p *procNode, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for {
		if st := p.status(); st.Store.Blocks+st.Cache.Blocks > 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}
