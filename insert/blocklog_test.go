package insert

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"lethe/crypto"
)

// TestBlockLogBatchesSlots: blocks put from many goroutines at once, of every length a slot
// takes, land each in a slot of its own, whole and zero-padded, across full batches, a last
// batch that Seal writes, and buffers reused from one batch to the next; the log reopened
// holds them all.
func TestBlockLogBatchesSlots(t *testing.T) {
	path := filepath.Join(t.TempDir(), "batch.blocks")
	log, err := CreateBlockLog(path)
	if err != nil {
		t.Fatal(err)
	}
	const blocks = 3*blockLogBatch + 5
	want := map[crypto.RoutingKey][]byte{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range blocks {
		// Long and short blocks alternate, so that a short one often lands where a long
		// one was in a reused buffer.
		size := crypto.CHKBlockSize
		if i%2 == 1 {
			size = 1 + i*37%crypto.CHKBlockSize
		}
		block := bytes.Repeat([]byte{byte(i) | 1}, size)
		var rk crypto.RoutingKey
		rk[0], rk[1] = byte(i), byte(i>>8)
		mu.Lock()
		want[rk] = block
		mu.Unlock()
		wg.Go(func() {
			if err := log.PutBlock(context.Background(), crypto.CHK, rk, block); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := log.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := log.PutBlock(context.Background(), crypto.CHK, crypto.RoutingKey{}, []byte{1}); err == nil {
		t.Error("a sealed log took another block")
	}
	log.Close()
	if st, err := os.Stat(path); err != nil || st.Size() != int64(blockLogHeader)+blocks*blockLogSlot {
		t.Fatalf("the log's file: %v, %v; want %d slots", st, err, blocks)
	}

	log, err = OpenBlockLog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	if _, total := log.Blocks(); total != blocks {
		t.Fatalf("the reopened log holds %d blocks, want %d", total, blocks)
	}
	buf := make([]byte, blockLogSlot)
	for i := range int64(blocks) {
		kt, rk, block, err := log.read(i, buf)
		if err != nil {
			t.Fatal(err)
		}
		if kt != crypto.CHK || !bytes.Equal(block, want[rk]) {
			t.Fatalf("slot %d holds a %d-byte %v block for %x that was not put so", i, len(block), kt, rk[:2])
		}
		delete(want, rk)
		if pad := buf[3+crypto.KeySize+len(block):]; !bytes.Equal(pad, make([]byte, len(pad))) {
			t.Fatalf("slot %d is not zero-padded after its %d-byte block", i, len(block))
		}
	}
	if len(want) != 0 {
		t.Errorf("%d blocks put are in no slot", len(want))
	}
}
