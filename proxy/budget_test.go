package proxy

import (
	"context"
	"testing"
	"time"

	"lethe/insert"
	"lethe/metadata"
)

// TestBudget: shares are granted while the budget lasts, waiters are served in order of
// arrival (a large one is not starved by small ones behind it), and a waiter that gives up
// leaves the budget whole.
func TestBudget(t *testing.T) {
	ctx := context.Background()
	b := newBudget(10)
	if err := b.acquire(ctx, 6); err != nil {
		t.Fatal(err)
	}
	large := make(chan error, 1)
	go func() { large <- b.acquire(ctx, 8) }()
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.waiters) == 1 })
	// 4 are free, but a small request waits behind the large one.
	small := make(chan error, 1)
	go func() { small <- b.acquire(ctx, 1) }()
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.waiters) == 2 })
	// A third gives up while waiting.
	cctx, cancel := context.WithCancel(ctx)
	gaveUp := make(chan error, 1)
	go func() { gaveUp <- b.acquire(cctx, 2) }()
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.waiters) == 3 })
	cancel()
	if err := <-gaveUp; err == nil {
		t.Fatal("a cancelled wait was granted")
	}
	b.release(6)
	if err := <-large; err != nil {
		t.Fatal(err)
	}
	if err := <-small; err != nil {
		t.Fatal(err)
	}
	b.release(8)
	b.release(1)
	if b.free != 10 || len(b.waiters) != 0 {
		t.Errorf("after everything is released: %d free, %d waiting", b.free, len(b.waiters))
	}
	if c := fetchCost(&metadata.Document{Size: 1 << 30}); c > fetchBudget {
		t.Errorf("a 1 GiB file costs %d, more than the whole budget", c)
	}
}

func waitFor(tb testing.TB, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestLRU: values are kept up to the bound, least recently used out first, and one too
// large for its share is not kept.
func TestLRU(t *testing.T) {
	c := newLRU[string, int](8 * 1024)
	for i, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		c.put(k, i, 960)
		c.get("a") // keep a warm
	}
	if _, ok := c.get("a"); !ok {
		t.Error("the most used value was evicted")
	}
	if _, ok := c.get("b"); ok {
		t.Error("the least recently used value was kept")
	}
	if c.size > c.max {
		t.Errorf("size %d over the bound %d", c.size, c.max)
	}
	c.put("huge", 0, 2048)
	if _, ok := c.get("huge"); ok {
		t.Error("a value over an eighth of the cache was kept")
	}
}

// TestBlockCache: a site's blocks opened twice are asked of the network once.
func TestBlockCache(t *testing.T) {
	p := newTestProxy(t, Config{})
	data := randomBytes(3, 300<<10)
	uri := insertFile(t, p.st, data, insert.Config{Name: "a.mp3"})
	p.get(t, pathOf(uri))
	p.st.ResetCounts()
	if _, body := p.get(t, pathOf(uri)); body != string(data) || p.st.TotalGets() != 0 {
		t.Errorf("opened again: %d bytes, %d blocks asked of the network", len(body), p.st.TotalGets())
	}
}
