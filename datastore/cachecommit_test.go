package datastore

import (
	"sync"
	"testing"
	"time"
)

// Cache puts wait for company (Options.CacheCommitDelay, spec §8.4): cacheBatchOps of them
// share one commit however long the delay, a put into the store takes the waiting ones into
// its own commit at once, and Close commits what waits. Every Put returns only after its
// commit, so what each reports is in the file when it is opened again.
func TestCacheCommitDelay(t *testing.T) {
	const forever = time.Hour // no test waits for the delay itself
	for _, tc := range []struct {
		name  string
		cache int                                       // cache puts started together
		then  func(t *testing.T, s *Store, b testBlock) // after they wait, if they wait
		// commits of the cache puts and what ended their wait
		commits uint64
	}{
		{name: "a full batch", cache: cacheBatchOps, commits: 1},
		{name: "a store put", cache: 3, commits: 1, then: func(t *testing.T, s *Store, b testBlock) {
			if err := s.Put(b.kt, b.rk, b.block, AreaStore); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "close", cache: 3, commits: 1, then: func(t *testing.T, s *Store, _ testBlock) {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkNoLeak(t)
			path := t.TempDir() + "/store.db"
			s, err := Open(path, Options{CacheCommitDelay: forever, noSync: true})
			if err != nil {
				t.Fatal(err)
			}
			blocks := chkBlocks(t, "lazy-"+tc.name, tc.cache+1)
			before := s.commits.Load()
			var wg sync.WaitGroup
			errs := make(chan error, tc.cache)
			for _, b := range blocks[:tc.cache] {
				wg.Go(func() { errs <- s.Put(b.kt, b.rk, b.block, AreaCache) })
			}
			if tc.then != nil {
				waitFor(t, "the cache puts to wait in the writer", func() bool { return s.waiting.Load() == int64(tc.cache) })
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
					t.Errorf("cache put %d reported done but not in the file", i)
				}
			}
			if st := s.Stats(); st.Cache.Blocks != int64(tc.cache) {
				t.Errorf("cache holds %d blocks, want %d", st.Cache.Blocks, tc.cache)
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
