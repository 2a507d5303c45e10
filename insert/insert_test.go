package insert

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/metadata"
)

// mapPutter keeps CHK blocks and can refuse the first puts.
type mapPutter struct {
	mu     sync.Mutex
	blocks map[crypto.RoutingKey][]byte
	fail   int // refuse this many puts before accepting
	calls  int
}

func (p *mapPutter) PutBlock(ctx context.Context, kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.fail > 0 {
		p.fail--
		return errors.New("overloaded")
	}
	if p.blocks == nil {
		p.blocks = map[crypto.RoutingKey][]byte{}
	}
	p.blocks[rk] = block
	return nil
}

func noise(n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(n)}).Read(b)
	return b
}

// content runs data through a directory-entry writer and returns the document it makes.
func content(t *testing.T, p BlockPutter, data []byte, cfg Config) *metadata.Document {
	t.Helper()
	in := newInserter(p, cfg)
	w, err := in.newWriter(context.Background(), crypto.InsertURI{Type: crypto.CHK}, false, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.result
}

func TestInlineLimit(t *testing.T) {
	limit := metadata.BlockSize - inlineHeader - len(metadata.DefaultMIMEType)
	if d := content(t, Discard, noise(limit), Config{}); d.Kind != metadata.KindInline {
		t.Errorf("%d bytes: %v, want inline", limit, d.Kind)
	}
	d := content(t, Discard, noise(limit+1), Config{})
	if d.Kind != metadata.KindSplitfile || len(d.Split.Segments) != 1 || d.Split.Segments[0].DataBlocks != 1 {
		t.Errorf("%d bytes: %v, want a splitfile of one data block", limit+1, d.Kind)
	}
	// The top block that holds the inline document is full to the byte.
	b, _ := content(t, Discard, noise(limit), Config{}).Encode()
	if len(b) != metadata.BlockSize {
		t.Errorf("inline document of %d bytes, want %d", len(b), metadata.BlockSize)
	}
}

// TestSegmentLayout checks spec §13.2: full segments of 128, the last blocks shared evenly.
func TestSegmentLayout(t *testing.T) {
	for _, tc := range []struct {
		blocks int
		want   []int
	}{
		{1, []int{1}},
		{129, []int{65, 64}},
		{256, []int{128, 128}},
		{300, []int{128, 86, 86}},
	} {
		// Zeros, stored as they are: the layout depends only on the length.
		d := content(t, Discard, make([]byte, tc.blocks*metadata.BlockSize-7), Config{Compression: CompressNever})
		var got []int
		for _, s := range d.Split.Segments {
			got = append(got, s.DataBlocks)
			if s.CheckBlocks != metadata.CheckBlocks(s.DataBlocks) {
				t.Errorf("segment of %d data blocks has %d check blocks", s.DataBlocks, s.CheckBlocks)
			}
		}
		if !equalInts(got, tc.want) {
			t.Errorf("%d blocks: segments %v, want %v", tc.blocks, got, tc.want)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPutRetries(t *testing.T) {
	p := &mapPutter{fail: 2}
	if _, err := File(context.Background(), p, crypto.InsertURI{Type: crypto.CHK}, bytes.NewReader([]byte("x")), Config{}); err != nil {
		t.Fatalf("two refusals and a success: %v", err)
	}
	p = &mapPutter{fail: 1 << 30}
	_, err := File(context.Background(), p, crypto.InsertURI{Type: crypto.CHK}, bytes.NewReader(noise(5*metadata.BlockSize)), Config{Retries: 1})
	if err == nil {
		t.Fatal("insert into a putter that refuses everything succeeded")
	}
	t.Logf("error: %v", err)
}

func TestAbortStopsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	w, err := NewWriter(context.Background(), &mapPutter{}, crypto.InsertURI{Type: crypto.CHK}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(noise(260 * metadata.BlockSize)); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	if err := w.Close(); err == nil {
		t.Error("Close after Abort succeeded")
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines before, %d after Abort", before, n)
	}
}

func TestCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := File(ctx, &mapPutter{}, crypto.InsertURI{Type: crypto.CHK}, bytes.NewReader(noise(3*metadata.BlockSize)), Config{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("insert with a cancelled context: %v", err)
	}
}
