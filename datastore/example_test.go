package datastore_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"lethe/crypto"
	"lethe/datastore"
)

func Example() {
	dir, err := os.MkdirTemp("", "lethe-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	store, err := datastore.Open(filepath.Join(dir, "store.db"), datastore.Options{
		StoreBytes: 64 << 20, // keep 64 MiB of the blocks closest to this node
		CacheBytes: 16 << 20, // and 16 MiB of recent and popular ones
		Location:   0.42,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	// A block passing through the node is cached; one this node is the sink for is stored.
	block, key, err := crypto.EncodeCHK(rand.Reader, []byte("hello, Lethe"))
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Put(crypto.CHK, key.Routing, block, datastore.AreaCache); err != nil {
		log.Fatal(err)
	}
	if err := store.Put(crypto.CHK, key.Routing, block, datastore.AreaStore); err != nil {
		log.Fatal(err) // promoted: the block is held once, now in the store area
	}

	got, err := store.Get(crypto.CHK, key.Routing) // verified against the key before it is returned
	if err != nil {
		log.Fatal(err)
	}
	payload, err := crypto.DecodeCHK(key, got)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", payload)

	_, other, _ := crypto.EncodeCHK(rand.Reader, []byte("never inserted"))
	_, err = store.Get(crypto.CHK, other.Routing)
	fmt.Println(errors.Is(err, datastore.ErrNotFound))

	st := store.Stats()
	fmt.Println(st.Store.Blocks, st.Cache.Blocks)
	if err := store.Check(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// hello, Lethe
	// true
	// 1 0
}
