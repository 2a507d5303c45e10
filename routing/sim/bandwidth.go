package sim

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"lethe/crypto"
	"lethe/routing"
)

// The bandwidth test: one node downloads a large file while every node's uplink is capped
// (uplink.go). A download that walked one path would get at most one node's uplink; through
// several tunnels, each from its own guard, it gets several (spec §18.11.3).

// BandwidthMeasurement is what the bandwidth test measured.
type BandwidthMeasurement struct {
	Blocks, Found int
	UplinkCap     float64 // bytes a second, every node
	Elapsed       time.Duration
	Throughput    float64 // bytes of blocks a second
	Window        int
	Failures      map[string]int // failed requests by error
}

// Ratio is the throughput in units of one node's uplink cap.
func (m BandwidthMeasurement) Ratio() float64 { return m.Throughput / m.UplinkCap }

func (m BandwidthMeasurement) String() string {
	return fmt.Sprintf("bandwidth: %d/%d blocks (%.1f MiB) in %v with every uplink capped at %.0f KiB/s: %.0f KiB/s, %.2f× one node's uplink (window %d)",
		m.Found, m.Blocks, float64(m.Blocks*crypto.CHKBlockSize)/(1<<20), m.Elapsed.Round(time.Millisecond), m.UplinkCap/1024, m.Throughput/1024, m.Ratio(), m.Window) +
		failures(m.Failures)
}

// bandwidthWindow is how many of the download's requests are in flight at once. (256, a
// fetch's largest window, gave less: 1.78× one uplink against 2.31×, 300 nodes.)
const bandwidthWindow = 64

// bandwidth runs the bandwidth test and fills rep.Bandwidth.
func (s *Sim) bandwidth(rep *Report) error {
	if s.cfg.BandwidthBlocks <= 0 || s.cfg.UplinkCap <= 0 {
		return nil
	}
	keys, err := s.insertKeys("bandwidth", s.cfg.BandwidthBlocks, true)
	if err != nil {
		return err
	}
	alive := s.alive()
	for _, n := range alive {
		n.up.setRate(s.cfg.UplinkCap)
	}
	defer func() {
		for _, n := range alive {
			n.up.setRate(0)
		}
	}()
	from := alive[s.rng.IntN(len(alive))]
	ctx := routing.WithStem(context.Background(), s.rng.Uint64()|1)
	var found atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := map[string]int{}
	sem := make(chan struct{}, bandwidthWindow)
	start := time.Now()
	for _, k := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := from.r.GetBlock(ctx, crypto.CHK, k); err == nil {
				found.Add(1)
			} else {
				mu.Lock()
				failed[err.Error()+" ("+s.whereIs(k)+")"]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	m := BandwidthMeasurement{Blocks: len(keys), Found: int(found.Load()), UplinkCap: s.cfg.UplinkCap, Elapsed: time.Since(start),
		Window: bandwidthWindow, Failures: failed}
	m.Throughput = float64(m.Found*crypto.CHKBlockSize) / m.Elapsed.Seconds()
	rep.Bandwidth = &m
	s.logf("%v", m)
	return nil
}
