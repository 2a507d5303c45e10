package fetch

import (
	"context"
	"fmt"
	"io"
	"sync"

	"lethe/crypto"
	"lethe/metadata"
)

// splitFetch fetches the stream of one splitfile (spec §13.5). Segments are fetched a few at
// a time ahead of the one being written out; within a segment, exactly as many requests are
// kept in flight as blocks are still needed, data blocks first, so that a healthy network
// delivers the data blocks and the erasure code is never run. A lost block is replaced by a
// block not yet asked for, and once those run out, a failed one is asked for again on a
// fresh route.
type splitFetch struct {
	f     *Fetcher
	sf    *metadata.Splitfile
	sem   chan struct{} // the window: one token per request in flight
	first []int64       // index in the stream of each segment's first data block
}

func (f *Fetcher) fetchSplit(ctx context.Context, sf *metadata.Splitfile, w io.Writer) error {
	sp := &splitFetch{f: f, sf: sf, sem: make(chan struct{}, f.cfg.Window), first: make([]int64, len(sf.Segments))}
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

	type future struct {
		done   chan struct{}
		blocks [][]byte
		err    error
	}
	futures := make([]*future, len(sf.Segments))
	start := func(s int) {
		fu := &future{done: make(chan struct{})}
		futures[s] = fu
		wg.Add(1)
		go func() {
			defer wg.Done()
			fu.blocks, fu.err = sp.segment(ctx, s)
			close(fu.done)
		}()
	}
	for s := range min(segmentsAhead, len(sf.Segments)) {
		start(s)
	}
	for s := range sf.Segments {
		fu := futures[s]
		select {
		case <-fu.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if fu.err != nil {
			return fu.err
		}
		for _, b := range fu.blocks {
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		futures[s] = nil
		if next := s + segmentsAhead; next < len(sf.Segments) {
			start(next)
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

// segment fetches any k blocks of segment s and returns its k data blocks' payloads.
func (sp *splitFetch) segment(ctx context.Context, s int) ([][]byte, error) {
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
	launch := func(i, attempt int) error {
		select {
		case sp.sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		inflight++
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := sp.f.chkPayload(ctx, sp.sf.Key(s, i), attempt)
			<-sp.sem
			results <- result{i: i, attempt: attempt, payload: p, err: err}
		}()
		return nil
	}
	fill := func() error {
		for inflight < k-have {
			switch {
			case next < n:
				next++
				if err := launch(next-1, 0); err != nil {
					return err
				}
			case len(retry) > 0:
				r := retry[0]
				retry = retry[1:]
				if err := launch(r.i, r.attempt+1); err != nil {
					return err
				}
			default:
				return nil
			}
		}
		return nil
	}

	for have < k {
		if err := fill(); err != nil {
			return nil, err
		}
		if inflight == 0 {
			return nil, &SegmentError{Segment: s, Segments: len(sp.sf.Segments), Have: have, Need: k, Blocks: n}
		}
		var r result
		select {
		case r = <-results:
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
