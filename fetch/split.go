package fetch

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"lethe/crypto"
	"lethe/metadata"
)

// splitFetch fetches the stream of one splitfile (spec §13.5). Segments are fetched a few at
// a time ahead of the one being written out; within a segment, exactly as many requests are
// kept in flight as blocks are still needed, data blocks first, so that a healthy network
// delivers the data blocks and the erasure code is never run. A lost block is replaced by a
// block not yet asked for, and once those run out, a failed one is asked for again on a
// fresh route. All the segments' requests share one window (window.go), which lets the
// blocks of earlier segments go first, and a segment's data blocks are written out as soon as
// those before them are in, so that the first bytes come after the first block, not after
// the first segment.
type splitFetch struct {
	f     *Fetcher
	sf    *metadata.Splitfile
	win   *window
	first []int64 // index in the stream of each segment's first data block
}

func (f *Fetcher) fetchSplit(ctx context.Context, sf *metadata.Splitfile, w io.Writer) error {
	sp := &splitFetch{f: f, sf: sf, win: newWindow(f.cfg.Window, f.cfg.MaxWindow), first: make([]int64, len(sf.Segments))}
	var n int64
	for i := range sf.Segments {
		sp.first[i] = n
		n += int64(sf.Segments[i].DataBlocks)
	}
	data, total := sf.BlockCounts()
	f.report(func(p *Progress) { p.BlocksTotal += total; p.BlocksRequired += data })

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()

	outs := make([]*segmentOut, len(sf.Segments))
	start := func(s int) {
		o := newSegmentOut(sf.Segments[s].DataBlocks)
		outs[s] = o
		wg.Go(func() {
			blocks, err := sp.segment(ctx, s, o)
			o.finish(blocks, err)
		})
	}
	for s := range min(segmentsAhead, len(sf.Segments)) {
		start(s)
	}
	for s := range sf.Segments {
		if err := outs[s].writeTo(ctx, w); err != nil {
			return err
		}
		outs[s] = nil
		if next := s + segmentsAhead; next < len(sf.Segments) {
			start(next)
		}
	}
	return nil
}

// segmentOut hands a segment's data blocks from its fetch to the writer: each as soon as it
// and every block before it are in, the rest when the segment is rebuilt.
type segmentOut struct {
	wake chan struct{} // a send after each change; capacity 1

	mu     sync.Mutex
	blocks [][]byte // the data blocks; the first ready are final; guarded by mu
	ready  int      // guarded by mu
	err    error    // why the segment failed; guarded by mu
}

func newSegmentOut(k int) *segmentOut {
	return &segmentOut{wake: make(chan struct{}, 1), blocks: make([][]byte, k)}
}

// publish makes the data blocks before upto final, taking them from shards.
func (o *segmentOut) publish(shards [][]byte, upto int) {
	o.mu.Lock()
	for ; o.ready < upto; o.ready++ {
		o.blocks[o.ready] = shards[o.ready]
	}
	o.mu.Unlock()
	o.signal()
}

// finish publishes the segment's data blocks, or why it failed.
func (o *segmentOut) finish(blocks [][]byte, err error) {
	if err != nil {
		o.mu.Lock()
		o.err = err
		o.mu.Unlock()
		o.signal()
		return
	}
	o.publish(blocks, len(blocks))
}

func (o *segmentOut) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// writeTo writes the segment's data blocks to w as they become final.
func (o *segmentOut) writeTo(ctx context.Context, w io.Writer) error {
	for written := 0; written < len(o.blocks); {
		o.mu.Lock()
		ready, blocks, err := o.ready, o.blocks[written:o.ready], o.err
		o.mu.Unlock()
		for _, b := range blocks {
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		if ready > written {
			written = ready
			continue
		}
		if err != nil {
			return err
		}
		select {
		case <-o.wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// blockLength is the payload length data block i of segment s must have.
func (sp *splitFetch) blockLength(s, i int) int {
	if i >= sp.sf.Segments[s].DataBlocks {
		return metadata.BlockSize
	}
	start := (sp.first[s] + int64(i)) * metadata.BlockSize
	return int(min(sp.sf.Length-start, metadata.BlockSize))
}

// segment fetches any k blocks of segment s and returns its k data blocks' payloads; the data
// blocks that arrive in order go to out as they come.
func (sp *splitFetch) segment(ctx context.Context, s int, out *segmentOut) ([][]byte, error) {
	seg := &sp.sf.Segments[s]
	k, n := seg.DataBlocks, seg.Blocks()
	attempts := sp.f.cfg.Attempts

	type result struct {
		i, attempt int
		payload    []byte
		err        error
	}
	// Every request this segment can ever make fits, so no request goroutine blocks on it.
	results := make(chan result, n*attempts)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()

	shards := make([][]byte, n)
	var (
		next     int      // next block never asked for
		retry    []result // failed blocks with attempts left
		inflight int
		have     int
	)
	// Requests wait for the window on their own goroutines, the segment's blocks in order
	// and before any later segment's (prio).
	var placed atomic.Int32 // requests that hold a place in the window
	launch := func(i, attempt int) {
		inflight++
		prio := int64(s)*metadata.MaxSegmentBlocks + int64(i)
		wg.Go(func() {
			place, err := sp.win.acquire(ctx, prio)
			var p []byte
			if err == nil {
				placed.Add(1)
				p, err = sp.f.chkPayload(ctx, sp.sf.Key(s, i), attempt)
				placed.Add(-1)
				place.release(outcomeOf(ctx, err))
			}
			results <- result{i: i, attempt: attempt, payload: p, err: err}
		})
	}
	fill := func() {
		for inflight < k-have {
			switch {
			case next < n:
				next++
				launch(next-1, 0)
			case len(retry) > 0:
				r := retry[0]
				retry = retry[1:]
				launch(r.i, r.attempt+1)
			default:
				return
			}
		}
	}

	ordered := 0 // data blocks in, in order from the first
	quiet := time.NewTimer(time.Hour)
	defer quiet.Stop()
	for have < k {
		fill()
		if inflight == 0 {
			return nil, &SegmentError{Segment: s, Segments: len(sp.sf.Segments), Have: have, Need: k, Blocks: n}
		}
		quiet.Reset(sp.win.hedgeAfter())
		var r result
		select {
		case r = <-results:
		case <-quiet.C:
			// No answer for a long while, though every request of the segment is out on
			// the network: one more block not yet asked for goes out beside them. Any k
			// blocks will do, so a request stuck on a broken path does not hold up the
			// stream for its whole timeout.
			if next < n && int(placed.Load()) == inflight {
				next++
				launch(next-1, 0)
			}
			continue
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		inflight--
		if r.err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			sp.f.cfg.Logger.Debug("fetch: block failed", "segment", s, "block", r.i, "attempt", r.attempt, "err", r.err)
			if r.attempt+1 < attempts {
				retry = append(retry, r)
			}
			continue
		}
		if want := sp.blockLength(s, r.i); len(r.payload) != want {
			return nil, fmt.Errorf("%w: segment %d block %d holds %d bytes, want %d", ErrCorrupt, s, r.i, len(r.payload), want)
		}
		shards[r.i] = r.payload
		have++
		if r.i == ordered {
			for ordered < k && shards[ordered] != nil {
				ordered++
			}
			out.publish(shards, ordered)
		}
	}
	return sp.rebuild(s, shards)
}

// rebuild fills in a segment's missing data blocks with the erasure code and checks each
// rebuilt block by encoding it again: it must give the routing key the metadata lists. This
// is what keeps check blocks that disagree with the data (a hostile insert) from yielding
// other bytes than the data blocks would.
func (sp *splitFetch) rebuild(s int, shards [][]byte) ([][]byte, error) {
	seg := &sp.sf.Segments[s]
	k := seg.DataBlocks
	complete := true
	for _, b := range shards[:k] {
		complete = complete && b != nil
	}
	if complete {
		return shards[:k], nil
	}
	fec, err := metadata.NewFEC(sp.sf.Code, k, seg.CheckBlocks)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	missing := make([]bool, k)
	for i, b := range shards {
		if i < k && b == nil {
			missing[i] = true
		}
		if b != nil && len(b) < metadata.BlockSize {
			padded := make([]byte, metadata.BlockSize)
			copy(padded, b)
			shards[i] = padded
		}
	}
	if err := fec.Reconstruct(shards); err != nil {
		return nil, fmt.Errorf("%w: segment %d: %w", ErrCorrupt, s, err)
	}
	for i := range k {
		n := sp.blockLength(s, i)
		if !missing[i] {
			shards[i] = shards[i][:n]
			continue
		}
		for _, c := range shards[i][n:] {
			if c != 0 {
				return nil, fmt.Errorf("%w: segment %d block %d rebuilt with non-zero padding", ErrCorrupt, s, i)
			}
		}
		payload := shards[i][:n]
		key := sp.sf.Key(s, i)
		_, got, err := crypto.EncodeCHKWithKey(payload, key.Crypto)
		if err != nil || got.Routing != key.Routing {
			return nil, fmt.Errorf("%w: segment %d block %d rebuilt by the erasure code does not match its key", ErrCorrupt, s, i)
		}
		shards[i] = payload
	}
	return shards[:k], nil
}
