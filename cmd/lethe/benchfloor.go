package main

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"sync"
	"time"

	"lethe/crypto"
	"lethe/datastore"
)

// linkFloor is the CPU one link costs a block at least, in CPU milliseconds per MB of blocks,
// each part measured on its own in the same run: what every link a block crosses must do
// (docs/performance.md, "the floor of a link").
type linkFloor struct {
	tls   float64 // TLS 1.3 seal and open of 32 KiB records over a loopback TCP connection
	sha   float64 // SHA-256 of each block: verifying it against its routing key
	seal  float64 // the store's seal: a key derived per block (HMAC-SHA-256) and AES-256-GCM
	store float64 // a datastore put: its own verify and seal, and the bbolt write, batched
}

// total is one link's floor: the TLS record, a verify, and a store put (which verifies and
// seals again: the floor as the store is built today).
func (f linkFloor) total() float64 { return f.tls + f.sha + f.store }

// floorRounds of floorRound each; the cheapest round counts, so that a moment when other work
// has the machine does not count against a primitive. CPU time is the process's (getrusage),
// which other processes do not inflate.
const (
	floorRounds = 3
	floorRound  = 150 * time.Millisecond
)

// cpuPerMB runs f (which handles some bytes and says how many) for floorRounds rounds and
// returns the least CPU milliseconds per MB of a round.
func cpuPerMB(f func() int) float64 {
	best := -1.0
	for range floorRounds {
		var n int
		start, cpu := time.Now(), cpuTime()
		for time.Since(start) < floorRound {
			n += f()
		}
		v := (cpuTime() - cpu).Seconds() * 1e3 / (float64(n) / 1e6)
		if best < 0 || v < best {
			best = v
		}
	}
	return best
}

// measureFloor measures each part of a link's floor on 32 KiB blocks. dir is where a scratch
// datastore goes (removed after).
func measureFloor(ctx context.Context, dir string) (linkFloor, error) {
	var f linkFloor
	block := make([]byte, crypto.CHKDataSize)
	mrand.NewChaCha8([32]byte{2}).Read(block)
	f.sha = cpuPerMB(func() int { sum := sha256.Sum256(block); block[0] ^= sum[0]; return len(block) })

	var rk [32]byte
	out := make([]byte, 0, len(block)+16)
	nonce := make([]byte, 12)
	f.seal = cpuPerMB(func() int {
		rk[0]++
		h := hmac.New(sha256.New, rk[:])
		h.Write([]byte("lethe/v1/store-seal-key"))
		key := h.Sum(nil)
		b, _ := aes.NewCipher(key)
		g, _ := cipher.NewGCM(b)
		out = g.Seal(out[:0], nonce, block, nil)
		return len(block)
	})

	var err error
	if f.tls, err = tlsCPUPerMB(ctx, block); err != nil {
		return f, fmt.Errorf("TLS over loopback: %w", err)
	}
	if f.store, err = storeCPUPerMB(dir); err != nil {
		return f, fmt.Errorf("a scratch datastore: %w", err)
	}
	return f, nil
}

// tlsCPUPerMB sends 32 KiB records over a TLS 1.3 connection on 127.0.0.1 and reads them at
// the other end: one seal, one open and a loopback copy per record, as a link does.
func tlsCPUPerMB(ctx context.Context, record []byte) (float64, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return 0, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return 0, err
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(io.Discard, c)
	})
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}} // a throwaway key of this run, on loopback
	conn, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var werr error
	v := cpuPerMB(func() int {
		if _, err := conn.Write(record); err != nil {
			werr = err
			return len(record)
		}
		return len(record)
	})
	if werr != nil {
		return 0, werr
	}
	if _, ok := conn.(*tls.Conn); !ok {
		return 0, fmt.Errorf("not a TLS connection")
	}
	return v, nil
}

// storeCPUPerMB puts storeFloorBlocks real CHK blocks, each new, into a scratch datastore
// from 32 goroutines at a time, as a busy node's router does, so that the writes commit in
// batches; it returns the CPU of the puts alone.
func storeCPUPerMB(dir string) (float64, error) {
	dir, err := os.MkdirTemp(dir, "lethe-bench-floor-*")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	s, err := datastore.Open(dir+"/store.db", datastore.Options{StoreBytes: 256 << 20, CacheBytes: -1, Location: 0.5})
	if err != nil {
		return 0, err
	}
	defer s.Close()
	type blk struct {
		rk    crypto.RoutingKey
		block []byte
	}
	blocks := make([]blk, storeFloorBlocks)
	payload := make([]byte, crypto.CHKDataSize)
	src := mrand.NewChaCha8([32]byte{3})
	for i := range blocks {
		src.Read(payload)
		b, key, err := crypto.EncodeCHKConvergent(payload)
		if err != nil {
			return 0, err
		}
		blocks[i] = blk{key.Routing, b}
	}
	var (
		mu   sync.Mutex
		perr error
	)
	cpu := cpuTime()
	for first := 0; first < len(blocks); first += 32 {
		var wg sync.WaitGroup
		for _, b := range blocks[first:min(first+32, len(blocks))] {
			wg.Go(func() {
				if err := s.Put(crypto.CHK, b.rk, b.block, datastore.AreaStore); err != nil {
					mu.Lock()
					perr = err
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	used := cpuTime() - cpu
	return used.Seconds() * 1e3 / (float64(len(blocks)*len(blocks[0].block)) / 1e6), perr
}

// storeFloorBlocks is how many blocks the store's floor is measured on: 16 MiB.
const storeFloorBlocks = 512
