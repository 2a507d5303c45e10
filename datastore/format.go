package datastore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"lethe/crypto"
)

// The file format (spec §8.2). These are spec constants: changing one changes what is on disk,
// and the format label below must change with it.
const (
	formatLabel = "lethe/v1/datastore" // meta["format"]: says the file is a Lethe store

	labelDBKey   = "lethe/v1/store-db-key"   // database key D = HMAC(salt, label ‖ 0 ‖ type ‖ routing key)
	labelSealKey = "lethe/v1/store-seal-key" // seal key = HMAC(routing key, label ‖ 0 ‖ salt)

	saltSize  = 32
	dbKeySize = 32
	nonceSize = 12
	tagSize   = 16

	// A data record: version ‖ CRC-32C ‖ block type ‖ D ‖ nonce ‖ AES-256-GCM(block) ‖ tag.
	recordVersion    = 1
	recordOffCRC     = 1
	recordOffType    = 5
	recordOffKey     = 6
	recordOffNonce   = recordOffKey + dbKeySize
	recordHeaderSize = recordOffNonce + nonceSize // 50

	slotSize      = 1 + dbKeySize // keys bucket key: block type ‖ D
	entrySize     = 8 + 1         // keys bucket value: sequence ‖ area
	ringValueSize = 1 + slotSize  // cache ring value: flags ‖ block type ‖ D
	indexKeySize  = 2 + 8         // store index key: coarse location ‖ sequence
	stateSize     = 7 * 8

	ringProtected = 1 // ring flag: the block was requested again since it was cached
)

// Buckets of the bbolt file (spec §8.2).
var (
	bucketMeta  = []byte("meta")  // format label, salt, state
	bucketData  = []byte("data")  // sequence → sealed record
	bucketKeys  = []byte("keys")  // block type ‖ D → sequence ‖ area
	bucketStore = []byte("store") // coarse location ‖ sequence → block type ‖ D
	bucketCache = []byte("cache") // sequence → flags ‖ block type ‖ D (the CLOCK ring)

	metaFormat = []byte("format")
	metaSalt   = []byte("salt")
	metaState  = []byte("state")

	allBuckets = [][]byte{bucketMeta, bucketData, bucketKeys, bucketStore, bucketCache}
)

// errFormat is what every parser of the file's bytes returns; callers wrap it in ErrCorrupt.
var errFormat = errors.New("malformed")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// dbKey is the database key of a block: an HMAC of its routing key under the store's salt, so
// the file never holds a routing key (spec §8.3).
type dbKey [dbKeySize]byte

// slot is the key of a block in the keys bucket: its block type and database key.
type slot [slotSize]byte

func makeSlot(kt crypto.KeyType, k dbKey) slot {
	var s slot
	s[0] = byte(kt)
	copy(s[1:], k[:])
	return s
}

func (s slot) keyType() crypto.KeyType { return crypto.KeyType(s[0]) }

// blockSize is the size of every block of a type, the unit the bounds are accounted in. Blocks
// are fixed-size, so the type alone says how many bytes a block occupies.
func blockSize(kt crypto.KeyType) int64 { return int64(kt.BlockSize()) }

// recordSize is the size of the sealed record of a block type.
func recordSize(kt crypto.KeyType) int {
	return recordHeaderSize + int(blockSize(kt)) + tagSize
}

// record is a parsed data record. Its slices point into the bytes it was parsed from.
type record struct {
	kt     crypto.KeyType
	key    dbKey
	nonce  []byte
	sealed []byte // ciphertext ‖ tag
}

// parseRecord checks a data record's structure: version, block type, exact length. It does not
// check the CRC (checkCRC does, for Check) nor open the seal (which needs the routing key).
func parseRecord(v []byte) (record, error) {
	if len(v) < recordHeaderSize {
		return record{}, fmt.Errorf("%w data record: %d bytes, shorter than its %d-byte header", errFormat, len(v), recordHeaderSize)
	}
	if v[0] != recordVersion {
		return record{}, fmt.Errorf("%w data record: version %d, want %d", errFormat, v[0], recordVersion)
	}
	kt := crypto.KeyType(v[recordOffType])
	if blockSize(kt) == 0 {
		return record{}, fmt.Errorf("%w data record: block type %d", errFormat, v[recordOffType])
	}
	if len(v) != recordSize(kt) {
		return record{}, fmt.Errorf("%w data record: %d bytes, a %v record is %d", errFormat, len(v), kt, recordSize(kt))
	}
	return record{
		kt:     kt,
		key:    dbKey(v[recordOffKey:recordOffNonce]),
		nonce:  v[recordOffNonce:recordHeaderSize],
		sealed: v[recordHeaderSize:],
	}, nil
}

// recordCRC is the CRC-32C that guards a record against damage: it lets Check find a damaged
// record without the routing key, which the store does not have.
func recordCRC(v []byte) uint32 { return crc32.Checksum(v[recordOffType:], castagnoli) }

func checkCRC(v []byte) error {
	if got, want := recordCRC(v), binary.BigEndian.Uint32(v[recordOffCRC:]); got != want {
		return fmt.Errorf("%w data record: CRC-32C %08x, stored %08x", errFormat, got, want)
	}
	return nil
}

// entry is a keys-bucket value: where a block's record is and which area holds it.
type entry struct {
	seq  uint64
	area Area
}

func (e entry) encode() []byte {
	b := make([]byte, entrySize)
	binary.BigEndian.PutUint64(b, e.seq)
	b[8] = byte(e.area)
	return b
}

func parseEntry(b []byte) (entry, error) {
	if len(b) != entrySize {
		return entry{}, fmt.Errorf("%w key entry: %d bytes, want %d", errFormat, len(b), entrySize)
	}
	e := entry{seq: binary.BigEndian.Uint64(b), area: Area(b[8])}
	if e.seq == 0 || !e.area.valid() {
		return entry{}, fmt.Errorf("%w key entry: sequence %d area %d", errFormat, e.seq, b[8])
	}
	return e, nil
}

// ringEntry is a cache-ring value.
type ringEntry struct {
	protected bool
	slot      slot
}

func (r ringEntry) encode() []byte {
	b := make([]byte, ringValueSize)
	if r.protected {
		b[0] = ringProtected
	}
	copy(b[1:], r.slot[:])
	return b
}

func parseRingEntry(b []byte) (ringEntry, error) {
	if len(b) != ringValueSize {
		return ringEntry{}, fmt.Errorf("%w cache ring entry: %d bytes, want %d", errFormat, len(b), ringValueSize)
	}
	if b[0]&^ringProtected != 0 || blockSize(crypto.KeyType(b[1])) == 0 {
		return ringEntry{}, fmt.Errorf("%w cache ring entry: flags %d block type %d", errFormat, b[0], b[1])
	}
	return ringEntry{protected: b[0] == ringProtected, slot: slot(b[1:])}, nil
}

// parseSlot checks a store-index value: a block type and database key.
func parseSlot(b []byte) (slot, error) {
	if len(b) != slotSize || blockSize(crypto.KeyType(b[0])) == 0 {
		return slot{}, fmt.Errorf("%w store index value: %d bytes, block type %d", errFormat, len(b), firstByte(b))
	}
	return slot(b), nil
}

func firstByte(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	return int(b[0])
}

// seqKey is the big-endian sequence number that keys the data and cache buckets, so that
// records are appended in order: bbolt writes a batch of new records into the last leaves
// instead of rewriting leaves all over the tree.
func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func parseSeqKey(k []byte) (uint64, error) {
	if len(k) != 8 {
		return 0, fmt.Errorf("%w sequence key: %d bytes", errFormat, len(k))
	}
	seq := binary.BigEndian.Uint64(k)
	if seq == 0 {
		return 0, fmt.Errorf("%w sequence key: zero", errFormat)
	}
	return seq, nil
}

// indexKey is a store-index key: the block's coarse location, then its sequence number, so a
// cursor walks the store in order round the circle.
func indexKey(loc uint16, seq uint64) []byte {
	b := make([]byte, indexKeySize)
	binary.BigEndian.PutUint16(b, loc)
	binary.BigEndian.PutUint64(b[2:], seq)
	return b
}

func parseIndexKey(k []byte) (loc uint16, seq uint64, err error) {
	if len(k) != indexKeySize {
		return 0, 0, fmt.Errorf("%w store index key: %d bytes, want %d", errFormat, len(k), indexKeySize)
	}
	seq = binary.BigEndian.Uint64(k[2:])
	if seq == 0 {
		return 0, 0, fmt.Errorf("%w store index key: sequence zero", errFormat)
	}
	return binary.BigEndian.Uint16(k), seq, nil
}

// coarseLocation is the top 16 bits of a key's location, which are its first two bytes (spec
// §1.3). It is all the store keeps of where a block lies (spec §8.5).
func coarseLocation(rk crypto.RoutingKey) uint16 { return binary.BigEndian.Uint16(rk[:2]) }

// coarseDistance is the distance from l to the middle of the 1/65536 arc of a coarse location.
func coarseDistance(l crypto.Location, loc uint16) float64 {
	return l.Distance(crypto.Location((float64(loc) + 0.5) / 65536))
}

// state is the meta-bucket record of sizes and positions, written in the same transaction as
// every change it accounts for, so a crash can never leave it disagreeing with the data.
type state struct {
	nextSeq   uint64 // sequence number of the next record; they start at 1
	hand      uint64 // where the CLOCK hand of the cache stands (a sequence number)
	store     areaCount
	cache     areaCount
	protected int64 // bytes of cache blocks in the protected segment
}

type areaCount struct {
	blocks, bytes int64
}

func (s *state) count(a Area) *areaCount {
	if a == AreaStore {
		return &s.store
	}
	return &s.cache
}

func (s state) encode() []byte {
	b := make([]byte, 0, stateSize)
	for _, v := range []uint64{s.nextSeq, s.hand, uint64(s.store.blocks), uint64(s.store.bytes),
		uint64(s.cache.blocks), uint64(s.cache.bytes), uint64(s.protected)} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	return b
}

func parseState(b []byte) (state, error) {
	if len(b) != stateSize {
		return state{}, fmt.Errorf("%w state: %d bytes, want %d", errFormat, len(b), stateSize)
	}
	u := func(i int) uint64 { return binary.BigEndian.Uint64(b[8*i:]) }
	i := func(n int) int64 { return int64(u(n)) }
	s := state{nextSeq: u(0), hand: u(1), store: areaCount{i(2), i(3)}, cache: areaCount{i(4), i(5)}, protected: i(6)}
	if s.nextSeq == 0 || s.store.blocks < 0 || s.store.bytes < 0 || s.cache.blocks < 0 || s.cache.bytes < 0 ||
		s.protected < 0 || s.protected > s.cache.bytes {
		return state{}, fmt.Errorf("%w state: %+v", errFormat, s)
	}
	return s, nil
}
