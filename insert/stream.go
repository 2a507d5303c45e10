package insert

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"

	"lethe/crypto"
	"lethe/metadata"
)

// stream cuts the bytes written to it into data blocks, groups them into segments, and has
// the segments encoded and inserted in the background (spec §13.2):
//
//	Write → data blocks → segment (k ≤ 128) → Reed–Solomon check blocks → CHK encode → PutBlock
//
// It holds back up to two segments' worth of data blocks, so that when the content ends the
// last blocks can be shared evenly between the last two segments: no segment is left with a
// handful of blocks and weak protection. Memory is bounded by that and by segmentsInFlight,
// whatever the content's size.
type stream struct {
	ctx       context.Context
	cancel    context.CancelCauseFunc
	in        *inserter
	inlineMax int // content up to this size is returned inline, not split

	cur      []byte   // the data block being filled; cap BlockSize
	pending  [][]byte // full data blocks not yet given to a segment
	length   int64
	segments []*metadata.Segment
	secret   [crypto.KeySize]byte // random keys: the splitfile secret (spec §13.3)
	reuse    bool                 // the putter is done with a block when PutBlock returns

	started  bool
	jobs     chan segmentJob
	puts     chan putJob
	inFlight chan struct{} // one token per segment being encoded
	encoders sync.WaitGroup
	putters  sync.WaitGroup
	stopOnce sync.Once
}

type segmentJob struct {
	index int
	seg   *metadata.Segment
	data  [][]byte // data blocks; each len is its payload, cap BlockSize, tail zeroed
}

type putJob struct {
	rk    crypto.RoutingKey
	block []byte
}

func newStream(ctx context.Context, in *inserter, inlineMax int) *stream {
	ctx, cancel := context.WithCancelCause(ctx)
	_, reuse := in.p.(doneWith)
	return &stream{ctx: ctx, cancel: cancel, in: in, inlineMax: inlineMax, reuse: reuse}
}

// blockPool recycles data and check block buffers between segments.
var blockPool = sync.Pool{New: func() any { b := make([]byte, metadata.BlockSize); return &b }}

func getBlock() []byte  { return (*blockPool.Get().(*[]byte))[:0] }
func putBlock(b []byte) { b = b[:cap(b)]; blockPool.Put(&b) }

// chkPool recycles encoded CHK blocks, for putters that are done with a block when PutBlock
// returns.
var chkPool = sync.Pool{New: func() any { b := make([]byte, crypto.CHKBlockSize); return &b }}

func (s *stream) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if err := s.ctx.Err(); err != nil {
			return 0, context.Cause(s.ctx)
		}
		if s.cur == nil {
			s.cur = getBlock()
		}
		k := copy(s.cur[len(s.cur):cap(s.cur)], p)
		s.cur = s.cur[:len(s.cur)+k]
		p = p[k:]
		s.length += int64(k)
		if len(s.cur) < metadata.BlockSize {
			continue
		}
		s.pending = append(s.pending, s.cur)
		s.cur = nil
		if len(s.pending) == 2*metadata.SegmentDataBlocks {
			if err := s.dispatch(s.pending[:metadata.SegmentDataBlocks]); err != nil {
				return 0, err
			}
			s.pending = append(s.pending[:0], s.pending[metadata.SegmentDataBlocks:]...)
		}
	}
	return n, nil
}

// start launches the encoders (one per core) and the putters (one per window slot).
func (s *stream) start() error {
	if s.started {
		return nil
	}
	if !s.in.cfg.Convergent {
		if _, err := io.ReadFull(s.in.cfg.Rand, s.secret[:]); err != nil {
			return fmt.Errorf("insert: read random splitfile secret: %w", err)
		}
	}
	s.started = true
	s.jobs = make(chan segmentJob)
	s.puts = make(chan putJob, s.in.cfg.Window)
	s.inFlight = make(chan struct{}, segmentsInFlight)
	for range runtime.GOMAXPROCS(0) {
		s.encoders.Add(1)
		go s.encodeLoop()
	}
	for range s.in.cfg.Window {
		s.putters.Add(1)
		go s.putLoop()
	}
	return nil
}

// dispatch hands data blocks to the encoders as one segment, waiting while too many segments
// are in flight.
func (s *stream) dispatch(data [][]byte) error {
	if err := s.start(); err != nil {
		return err
	}
	select {
	case s.inFlight <- struct{}{}:
	case <-s.ctx.Done():
		return context.Cause(s.ctx)
	}
	seg := &metadata.Segment{DataBlocks: len(data), CheckBlocks: metadata.CheckBlocks(len(data))}
	s.segments = append(s.segments, seg)
	s.in.report(func(p *Progress) { p.BlocksTotal += seg.Blocks() })
	job := segmentJob{index: len(s.segments) - 1, seg: seg, data: append([][]byte(nil), data...)}
	select {
	case s.jobs <- job:
		return nil
	case <-s.ctx.Done():
		<-s.inFlight
		return context.Cause(s.ctx)
	}
}

func (s *stream) encodeLoop() {
	defer s.encoders.Done()
	for job := range s.jobs {
		if err := s.encode(job); err != nil {
			s.cancel(err)
		}
		<-s.inFlight
	}
}

// encode computes a segment's check blocks, encrypts every block and queues it for
// insertion, recording the keys in the segment.
func (s *stream) encode(job segmentJob) error {
	seg := job.seg
	k, m := seg.DataBlocks, seg.CheckBlocks
	shards := make([][]byte, k+m)
	for i, d := range job.data {
		shards[i] = d[:metadata.BlockSize]
	}
	for i := k; i < k+m; i++ {
		shards[i] = getBlock()[:metadata.BlockSize]
	}
	defer func() {
		for _, b := range shards {
			putBlock(b)
		}
	}()
	fec, err := metadata.NewFEC(metadata.CodeFFT, k, m)
	if err != nil {
		return err
	}
	if err := fec.Encode(shards); err != nil {
		return fmt.Errorf("insert: erasure-code segment %d: %w", job.index, err)
	}
	seg.Routing = make([]crypto.RoutingKey, k+m)
	if s.in.cfg.Convergent {
		seg.Crypto = make([][crypto.KeySize]byte, k+m)
	}
	for i, shard := range shards {
		payload := shard
		if i < k {
			payload = shard[:len(job.data[i])]
		}
		var (
			block []byte
			key   crypto.CHKKey
			err   error
		)
		if s.in.cfg.Convergent {
			block, key, err = crypto.EncodeCHKConvergent(payload)
			seg.Crypto[i] = key.Crypto
		} else {
			block = s.chkBuffer()
			key, err = crypto.EncodeCHKInto(block, payload, crypto.SplitfileBlockKey(s.secret, uint32(job.index), uint16(i)))
		}
		if err != nil {
			return err
		}
		seg.Routing[i] = key.Routing
		select {
		case s.puts <- putJob{rk: key.Routing, block: block}:
		case <-s.ctx.Done():
			return context.Cause(s.ctx)
		}
	}
	return nil
}

func (s *stream) putLoop() {
	defer s.putters.Done()
	for job := range s.puts {
		if s.ctx.Err() != nil {
			continue // drain after a failure
		}
		if err := s.in.put(s.ctx, crypto.CHK, job.rk, job.block); err != nil {
			s.cancel(err)
		}
		if s.reuse {
			chkPool.Put(&job.block)
		}
	}
}

// chkBuffer is a buffer for an encoded block: a recycled one when the putter lets go of
// blocks, else a new one, which the putter may keep.
func (s *stream) chkBuffer() []byte {
	if s.reuse {
		return *chkPool.Get().(*[]byte)
	}
	return make([]byte, crypto.CHKBlockSize)
}

// stop closes the pipeline and waits for its goroutines.
func (s *stream) stop() {
	s.stopOnce.Do(func() {
		if !s.started {
			return
		}
		close(s.jobs)
		s.encoders.Wait()
		close(s.puts)
		s.putters.Wait()
	})
}

// abort stops the pipeline with err as the cause.
func (s *stream) abort(err error) {
	s.cancel(err)
	s.stop()
}

// finish ends the stream: content that fits inline is returned as is; otherwise the last
// segments are dispatched, and finish returns the splitfile once every block is inserted.
func (s *stream) finish() (inline []byte, split *metadata.Splitfile, err error) {
	defer s.cancel(nil)
	if !s.started && len(s.pending) == 0 && len(s.cur) <= s.inlineMax {
		inline = append([]byte{}, s.cur...)
		if s.cur != nil {
			putBlock(s.cur)
		}
		s.cur = nil
		return inline, nil, nil
	}
	if len(s.cur) > 0 {
		clear(s.cur[len(s.cur):cap(s.cur)])
		s.pending = append(s.pending, s.cur)
		s.cur = nil
	}
	rest := s.pending
	for _, n := range metadata.SplitEvenly(len(rest)) {
		if err := s.dispatch(rest[:n]); err != nil {
			s.stop()
			return nil, nil, err
		}
		rest = rest[n:]
	}
	s.pending = nil
	s.stop()
	if s.ctx.Err() != nil {
		return nil, nil, context.Cause(s.ctx)
	}
	split = &metadata.Splitfile{Length: s.length, Code: metadata.CodeFFT, Derived: !s.in.cfg.Convergent, Secret: s.secret}
	for _, seg := range s.segments {
		split.Segments = append(split.Segments, *seg)
	}
	return nil, split, nil
}
