package datastore

import (
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"lethe/crypto"
)

// Errors a caller branches on. Each is wrapped with what failed and where.
var (
	// ErrNotFound: the store does not hold the block (or held a damaged copy, now removed).
	ErrNotFound = errors.New("block not in the store")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("store is closed")
	// ErrLocked: another process holds the file, most likely another Lethe node using the
	// same data directory.
	ErrLocked = errors.New("store is locked by another process (is another Lethe node running on this data directory?)")
	// ErrCorrupt: the file is a Lethe store but damaged. The store never starts empty in its
	// place: the operator decides whether to move it aside and start anew.
	ErrCorrupt = errors.New("store is damaged")
	// ErrNotStore: the file exists but is not a Lethe store.
	ErrNotStore = errors.New("file is not a Lethe store")
	// ErrDiskFull: the disk holding the store has no room left. The write that hit it is
	// undone and the store stays usable; puts succeed again once space is freed.
	ErrDiskFull = errors.New("no space left on the disk holding the store")
)

// Defaults for a zero Options.
const (
	DefaultStoreBytes  = 1 << 30   // 1 GiB of long-term store
	DefaultCacheBytes  = 256 << 20 // 256 MiB of cache
	DefaultLockTimeout = time.Second
	// DefaultSharedCommitDelay is the SharedCommitDelay a node gives its store: a machine that
	// crashes loses at most this long of shared-commit writes (cache copies, and the copies of
	// a sink's tail, spec §8.4), never a block it stored at once.
	DefaultSharedCommitDelay = 100 * time.Millisecond
)

// Options configure a store. The zero value works: default bounds, location 0, silent.
type Options struct {
	// StoreBytes and CacheBytes bound the two areas in bytes of block data (a CHK block
	// counts 32788 bytes, an SSK block 9516). Zero means the default; a negative bound
	// disables the area, so nothing is kept in it. The file grows to about 20% more than the
	// sum of the bounds (bbolt's pages and free pages, record headers, indexes). A bound
	// lower than what the store holds takes effect at Open, which evicts down to it.
	StoreBytes, CacheBytes int64
	// Location is this node's location. The store area keeps the blocks closest to it and
	// evicts the farthest first; SetLocation moves it.
	Location crypto.Location
	// LockTimeout is how long Open waits for another process to release the file before it
	// fails with ErrLocked. Zero means DefaultLockTimeout.
	LockTimeout time.Duration
	// Logger receives the store's few log lines (open, damage found, disk full). Nil is silent.
	Logger *slog.Logger
	// Rand is the source of the salt and of nonces. Nil means crypto/rand.
	Rand io.Reader
	// ReserveBytes is the size of the reserve file kept beside the store for a full disk
	// (reserve.go). Zero means DefaultReserveBytes; negative, none.
	ReserveBytes int64
	// SharedCommitDelay is how long a put with a shared commit (CommitShared: a put into the
	// cache, or PutVerified's asking for it) may wait for other writes to share its commit
	// (spec §8.4). A relay caches the blocks that pass through it a few a second, and a commit
	// of one block, with its two fsyncs, costs the CPU of several links: waiting lets them
	// share one. The wait ends early when sharedBatchOps such puts are waiting, and when a
	// put that commits at once or a removal comes, which takes the waiting puts into its own
	// commit. A put still returns only after its commit. Zero commits every batch at once; a
	// node uses DefaultSharedCommitDelay.
	SharedCommitDelay time.Duration

	// inspect opens an existing store for CheckFile and RepairFile alone: a missing file is an
	// error, and nothing is changed at Open (no eviction down to the bounds, no reserve).
	inspect bool

	// noSync skips fsync on commit, for tests that exercise logic rather than durability.
	// A crash of the process loses nothing even so (the kernel keeps the written pages);
	// only a crash of the machine could.
	noSync bool
}

// Area is one of the store's two separately bounded parts.
type Area uint8

const (
	// AreaStore holds blocks long-term, those closest to the node's location.
	AreaStore Area = 1 + iota
	// AreaCache holds recent and popular blocks that passed through the node.
	AreaCache
)

// Commit is how soon a put's commit must come.
type Commit uint8

const (
	// CommitAtOnce: the put commits with whatever else is queued, waiting for no timer. Put
	// commits a put into the store so.
	CommitAtOnce Commit = iota
	// CommitShared: the put may wait up to Options.SharedCommitDelay for other writes to
	// share its commit. Put commits a put into the cache so.
	CommitShared
)

func (a Area) valid() bool { return a == AreaStore || a == AreaCache }

func (a Area) String() string {
	switch a {
	case AreaStore:
		return "store"
	case AreaCache:
		return "cache"
	}
	return fmt.Sprintf("Area(%d)", uint8(a))
}

// Tuning constants (not part of the format).
const (
	maxBatchOps   = 256      // puts committed in one transaction at most
	maxBatchBytes = 16 << 20 // bytes of records committed in one transaction at most
	// sharedBatchOps is how many shared-commit puts end the wait of SharedCommitDelay: enough
	// to share a commit well, and well below the cache writes a node lets wait at once (64),
	// so that none of its writes is turned away while a batch fills.
	sharedBatchOps = 32
	shrinkBatch    = 256 // evictions per transaction when Open shrinks an area
	// protectedShare is the part of the cache that blocks requested again may hold; the rest
	// is where new blocks wait to prove themselves, so a scan of cold blocks churns only it.
	protectedNum, protectedDen = 3, 4
)

// Store is a node's block store: one bbolt file, two bounded areas, operator-blind. It is safe
// for concurrent use. Gets run in parallel read transactions; puts are queued to one writer
// goroutine that commits whatever has queued up in a single transaction.
type Store struct {
	db     *bolt.DB
	path   string
	keys   keyer
	rand   io.Reader
	log    *slog.Logger
	bounds [3]int64 // indexed by Area; -1 when the area is disabled
	loc    atomic.Uint64
	refs   *refBits
	// reserve is the reserve file's path, "" once given up or if there is none; owned by the
	// writer goroutine after Open, as are the two fields below.
	reserve      string
	reserveBytes int64 // the reserve's size; 0 if the store keeps none
	// roomBound, if not 0, is the cache's bound while the store area is shut
	// (freeCacheForDisk).
	roomBound int64
	// shutUntil is not 0 while the store area is shut (shutStore, probeRoom): the
	// UnixNano time until which a put into it is refused at once (put), without the writer
	// looking for room. Written only by the writer.
	shutUntil atomic.Int64
	inspect   bool // opened by CheckFile or RepairFile: the bounds are not checked or enforced

	ops        chan *op
	writerDone chan struct{}
	cacheDelay time.Duration // Options.SharedCommitDelay
	flush      chan struct{} // closed when Close begins: the writer waits no more
	waiting    atomic.Int64  // ops the writer holds while cache puts wait for company (tests)
	st         state         // the committed state; owned by the writer goroutine after Open

	mu     sync.RWMutex // guards closed, pub
	closed bool
	pub    state // copy of st for Stats, published after each commit

	inflight  sync.WaitGroup // calls that may still hand work to the writer
	closeOnce sync.Once
	closeErr  error

	hits, misses, puts, evictions, rejected, damaged atomic.Uint64
	commits                                          atomic.Uint64 // for the benchmarks' puts per commit
	diskFullAt                                       atomic.Int64  // UnixNano of the last write that found the disk full
	diskFullWrites                                   atomic.Uint64 // puts answered ErrDiskFull
}

// Open opens the store at path, creating it on first run. It never starts empty over a file
// it cannot read: a damaged file gives ErrCorrupt, someone else's file ErrNotStore, a file in
// use ErrLocked, a full disk ErrDiskFull. The directory must exist.
func Open(path string, opts Options) (*Store, error) {
	s, err := open(path, opts)
	if err != nil {
		return nil, fmt.Errorf("open store %q: %w", path, err)
	}
	return s, nil
}

func open(path string, opts Options) (*Store, error) {
	if !opts.Location.Valid() {
		return nil, fmt.Errorf("location %v is not on the circle [0,1)", float64(opts.Location))
	}
	s := &Store{
		path:       path,
		log:        opts.Logger,
		rand:       opts.Rand,
		ops:        make(chan *op, maxBatchOps),
		writerDone: make(chan struct{}),
		cacheDelay: opts.SharedCommitDelay,
		flush:      make(chan struct{}),
		inspect:    opts.inspect,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.rand == nil {
		s.rand = crand.Reader
	} else {
		s.rand = &lockedReader{r: s.rand}
	}
	s.bounds[AreaStore] = bound(opts.StoreBytes, DefaultStoreBytes)
	s.bounds[AreaCache] = bound(opts.CacheBytes, DefaultCacheBytes)
	s.loc.Store(math.Float64bits(float64(opts.Location)))
	s.refs = newRefBits(s.bounds[AreaCache])

	if opts.inspect {
		if _, err := os.Stat(path); err != nil {
			return nil, err
		}
	}
	if err := checkMagic(path); err != nil {
		return nil, err
	}
	db, err := openBolt(path, &bolt.Options{
		Timeout:      cmp0(opts.LockTimeout, DefaultLockTimeout),
		PageSize:     4096, // spec §8.2; an existing file keeps the page size it was made with
		FreelistType: bolt.FreelistMapType,
		NoStatistics: true,
		NoSync:       opts.noSync,
		// Mapping the whole expected file up front means the file never needs remapping as it
		// grows, and a remap is the one thing that makes a write wait for all readers.
		InitialMmapSize: mmapSize(s.bounds[AreaStore], s.bounds[AreaCache]),
	})
	if err != nil {
		return nil, err
	}
	s.db = db
	if err := s.load(); err != nil {
		db.Close()
		return nil, err
	}
	s.pub = s.st
	if !s.inspect {
		for _, a := range []Area{AreaStore, AreaCache} {
			if err := s.shrink(a); err != nil {
				db.Close()
				return nil, err
			}
		}
		s.reserveBytes = max(0, bound(opts.ReserveBytes, DefaultReserveBytes))
		s.makeReserve()
		os.Remove(roomProbePath(path)) // left by a process killed while it looked for room
	}
	go s.write()
	s.log.Info("datastore open", "path", path,
		"store_blocks", s.st.store.blocks, "store_bytes", s.st.store.bytes, "store_bound", s.bounds[AreaStore],
		"cache_blocks", s.st.cache.blocks, "cache_bytes", s.st.cache.bytes, "cache_bound", s.bounds[AreaCache])
	return s, nil
}

func bound(b, def int64) int64 {
	switch {
	case b == 0:
		return def
	case b < 0:
		return -1
	}
	return b
}

func cmp0[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// mmapSize is more than the file is expected to grow to: the bounds plus about 20% for pages
// and free pages (docs/performance.md), plus slack. Only address space is reserved.
func mmapSize(store, cache int64) int {
	n := max(store, 0) + max(cache, 0)
	n += n/2 + 64<<20
	if n > math.MaxInt32 && math.MaxInt == math.MaxInt32 {
		return 0 // a 32-bit address space: let bbolt grow the mapping as the file grows
	}
	return int(n)
}

// checkMagic tells someone else's file from a damaged store before bbolt sees it: a Lethe
// store is a bbolt file, whose first or second page carries bbolt's magic number.
func checkMagic(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // first run
	}
	if err != nil {
		return err
	}
	defer f.Close()
	var buf [2 * 4096]byte
	n, err := io.ReadFull(f, buf[:])
	if n == 0 && (err == io.EOF) {
		return nil // empty file: bbolt initialises it
	}
	const magic = 0xED0CDAED // bbolt's, at offset 16 of each meta page, in host byte order
	for _, off := range []int{16, 4096 + 16} {
		if n >= off+4 && (binary.LittleEndian.Uint32(buf[off:]) == magic || binary.BigEndian.Uint32(buf[off:]) == magic) {
			return nil
		}
	}
	return fmt.Errorf("%w: no bbolt header (someone else's file, or a store damaged beyond recognition)", ErrNotStore)
}

// openBolt opens the file with bbolt and turns its failures into the store's errors. bbolt
// panics on some damaged files; the panic is caught here and the file closed, so that a
// damaged store is reported and not a crash.
func openBolt(path string, o *bolt.Options) (db *bolt.DB, err error) {
	var file *os.File
	o.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		file = f
		return f, err
	}
	defer func() {
		if p := recover(); p != nil {
			if file != nil {
				file.Close()
			}
			db, err = nil, fmt.Errorf("%w: bbolt: %v", ErrCorrupt, p)
		}
	}()
	db, err = bolt.Open(path, 0o600, o)
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("%w (waited %v)", ErrLocked, o.Timeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
		return nil, fmt.Errorf("%w: bbolt: %v", ErrCorrupt, err)
	}
	return nil, classify(err)
}

// load reads the meta bucket, or initialises a fresh file.
func (s *Store) load() error {
	var fresh bool
	err := s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			empty := true
			tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
			if !empty {
				return fmt.Errorf("%w: bbolt file without Lethe's meta bucket", ErrNotStore)
			}
			fresh = true
			return nil
		}
		if f := meta.Get(metaFormat); string(f) != formatLabel {
			return fmt.Errorf("%w: format %q, this Lethe reads %q", ErrNotStore, f, formatLabel)
		}
		salt := meta.Get(metaSalt)
		if len(salt) != saltSize {
			return fmt.Errorf("%w: salt is %d bytes, want %d", ErrCorrupt, len(salt), saltSize)
		}
		copy(s.keys.salt[:], salt)
		st, err := parseState(meta.Get(metaState))
		if err != nil {
			return fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		s.st = st
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("%w: bucket %q missing", ErrCorrupt, name)
			}
		}
		return nil
	})
	if err != nil || !fresh {
		return err
	}
	if s.inspect {
		return fmt.Errorf("%w: an empty bbolt file, never opened by a node", ErrNotStore)
	}
	if _, err := io.ReadFull(s.rand, s.keys.salt[:]); err != nil {
		return fmt.Errorf("read salt: %w", err)
	}
	s.st = state{nextSeq: 1}
	err = s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(metaFormat, []byte(formatLabel)); err != nil {
			return err
		}
		if err := meta.Put(metaSalt, s.keys.salt[:]); err != nil {
			return err
		}
		return meta.Put(metaState, s.st.encode())
	})
	if err != nil {
		return fmt.Errorf("create store: %w", classify(err))
	}
	return nil
}

// shrink evicts an area down to its bound when the bound was lowered since the last run, a
// batch of blocks per transaction. It runs in Open, before the writer starts.
func (s *Store) shrink(a Area) error {
	for s.st.count(a).bytes > max(s.bounds[a], 0) {
		var (
			st state
			ev events
		)
		err := s.update(func(tx *bolt.Tx) error {
			st, ev = s.st, events{}
			var err error
			if a == AreaStore {
				_, err = s.shrinkStore(tx, &st, &ev, shrinkBatch)
			} else {
				err = s.makeRoomInCache(tx, &st, &ev, 0, shrinkBatch)
			}
			if err != nil {
				return err
			}
			return tx.Bucket(bucketMeta).Put(metaState, st.encode())
		})
		if err != nil {
			return fmt.Errorf("shrink the %v to its bound: %w", a, err)
		}
		s.publish(st, ev)
		s.log.Info("datastore: shrinking to a lowered bound", "area", a, "evicted", ev.evictions,
			"bytes", st.count(a).bytes, "bound", s.bounds[a])
	}
	return nil
}

// classify turns a write failure into ErrDiskFull when the disk is full.
func classify(err error) error {
	if err == nil || errors.Is(err, ErrDiskFull) {
		return err
	}
	if NoSpace(err) {
		return fmt.Errorf("%w: %v", ErrDiskFull, err)
	}
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// SetLocation moves the node on the circle (darknet location swapping). From then on the
// store area evicts the blocks farthest from the new location first; nothing is moved now.
func (s *Store) SetLocation(l crypto.Location) {
	if !l.Valid() {
		s.log.Error("datastore: SetLocation ignored a location off the circle", "location", float64(l))
		return
	}
	s.loc.Store(math.Float64bits(float64(l)))
}

func (s *Store) location() crypto.Location {
	return crypto.Location(math.Float64frombits(s.loc.Load()))
}

// Stats are the store's figures for the status page.
type Stats struct {
	Store, Cache AreaStats
	// Counters since Open: gets that found a block and that did not, puts that stored or
	// promoted a block, blocks evicted to make room, blocks not kept because a full store
	// holds only closer ones, damaged records found and removed.
	Hits, Misses, Puts, Evictions, Rejected, Damaged uint64
	// DiskFullAt is when a write last found the disk full, whether the cache then made room
	// for it or it failed with ErrDiskFull; zero if none has since Open. DiskFullWrites
	// counts the puts that failed with ErrDiskFull since Open.
	DiskFullAt     time.Time
	DiskFullWrites uint64
}

// AreaStats describe one area.
type AreaStats struct {
	Blocks, Bytes int64
	Bound         int64 // -1 if the area is disabled
	// Popular is, for the cache, the bytes of blocks requested again since they were cached
	// (the protected segment of the CLOCK, spec §8.6).
	Popular int64
}

// Stats returns the current figures.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	st := s.pub
	s.mu.RUnlock()
	return Stats{
		Store:     AreaStats{Blocks: st.store.blocks, Bytes: st.store.bytes, Bound: s.bounds[AreaStore]},
		Cache:     AreaStats{Blocks: st.cache.blocks, Bytes: st.cache.bytes, Bound: s.bounds[AreaCache], Popular: st.protected},
		Hits:      s.hits.Load(),
		Misses:    s.misses.Load(),
		Puts:      s.puts.Load(),
		Evictions: s.evictions.Load(),
		Rejected:  s.rejected.Load(),
		Damaged:   s.damaged.Load(),
		DiskFullAt: func() time.Time {
			if at := s.diskFullAt.Load(); at != 0 {
				return time.Unix(0, at)
			}
			return time.Time{}
		}(),
		DiskFullWrites: s.diskFullWrites.Load(),
	}
}

// Close waits for queued puts to commit, stops the writer and closes the file. It is
// idempotent; calls after the first return the first's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.flush)
		s.inflight.Wait()
		close(s.ops)
		<-s.writerDone
		s.closeErr = s.db.Close()
		s.log.Info("datastore closed", "path", s.path)
	})
	return s.closeErr
}

// enter registers a call that may hand work to the writer; it fails once Close has begun.
func (s *Store) enter() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	s.inflight.Add(1)
	return nil
}
