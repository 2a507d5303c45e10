package datastore

import (
	"sync"
	"testing"
	"time"
)

// Cache puts, and store puts that ask for a shared commit (a tail's copies), wait for company
// (Options.SharedCommitDelay, spec §8.4): sharedBatchOps of them share one commit however
// long the delay, a put into the store takes the waiting ones into its own commit at once,
// and Close commits what waits. Every put returns only after its commit, so what each
// reports is in the file when it is opened again.
func TestSharedCommitDelay(t *testing.T) {
	const forever = time.Hour // no test waits for the delay itself
	for _, tc := range []struct {
		name  string
		area  Area                                      // of the waiting puts
		cache int                                       // waiting puts started together
		then  func(t *testing.T, s *Store, b testBlock) // after they wait, if they wait
		// commits of the cache puts and what ended their wait
		commits uint64
	}{
		{name: "a full batch", area: AreaCache, cache: sharedBatchOps, commits: 1},
		{name: "a full batch of shared store puts", area: AreaStore, cache: sharedBatchOps, commits: 1},
		{name: "a store put", area: AreaCache, cache: 3, commits: 1, then: func(t *testing.T, s *Store, b testBlock) {
			if err := s.Put(b.kt, b.rk, b.block, AreaStore); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a store put after shared store puts", area: AreaStore, cache: 3, commits: 1, then: func(t *testing.T, s *Store, b testBlock) {
			if err := s.Put(b.kt, b.rk, b.block, AreaStore); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "close", area: AreaCache, cache: 3, commits: 1, then: func(t *testing.T, s *Store, _ testBlock) {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkNoLeak(t)
			path := t.TempDir() + "/store.db"
			s, err := Open(path, Options{SharedCommitDelay: forever, noSync: true})
			if err != nil {
				t.Fatal(err)
			}
			blocks := chkBlocks(t, "lazy-"+tc.name, tc.cache+1)
			before := s.commits.Load()
			var wg sync.WaitGroup
			errs := make(chan error, tc.cache)
			for _, b := range blocks[:tc.cache] {
				wg.Go(func() {
					if tc.area == AreaCache {
						errs <- s.Put(b.kt, b.rk, b.block, AreaCache)
					} else {
						errs <- s.PutVerified(b.kt, b.rk, b.block, AreaStore, CommitShared)
					}
				})
			}
			if tc.then != nil {
				waitFor(t, "the puts to wait in the writer", func() bool { return s.waiting.Load() == int64(tc.cache) })
				tc.then(t, s, blocks[tc.cache])
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := s.commits.Load() - before; got != tc.commits {
				t.Errorf("the waiting puts took %d commits, want %d", got, tc.commits)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openAt(t, path, Options{})
			for i, b := range blocks[:tc.cache] {
				if !s.Has(b.kt, b.rk) {
					t.Errorf("put %d reported done but not in the file", i)
				}
			}
			st := s.Stats()
			held := map[Area]int64{AreaCache: st.Cache.Blocks, AreaStore: st.Store.Blocks}
			if tc.then != nil && tc.area == AreaStore {
				held[AreaStore]-- // the put that ended the wait
			}
			if held[tc.area] != int64(tc.cache) {
				t.Errorf("%v holds %d of the waiting puts' blocks, want %d", tc.area, held[tc.area], tc.cache)
			}
		})
	}
}

// waitFor polls cond until it holds, failing the test after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
