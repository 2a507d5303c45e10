package crypto

import "encoding/binary"

// labelSplitfileBlock derives the crypto keys of a splitfile's blocks (spec §13.3).
const labelSplitfileBlock = "lethe/v1/splitfile-block-key"

// SplitfileBlockKey derives the crypto key of block index (data blocks first, then check
// blocks) of segment seg of a splitfile from the splitfile's 32-byte secret (spec §13.3):
//
//	HMAC(secret, "lethe/v1/splitfile-block-key" ‖ 0x00 ‖ uint32(seg) ‖ uint16(index))
//
// A random secret per insert keeps the property of random CHK keys (an observer who knows the
// file cannot recognise its blocks) while the metadata stores 32 bytes per block instead of
// 64, and it lets a fetcher check a block rebuilt by the erasure code: re-encoding it under
// its derived key must give the routing key the metadata names. Each key still encrypts
// exactly one block, so the fixed CHK nonce stays safe (spec §3.1).
func SplitfileBlockKey(secret [KeySize]byte, seg uint32, index uint16) [KeySize]byte {
	var pos [6]byte
	binary.BigEndian.PutUint32(pos[:4], seg)
	binary.BigEndian.PutUint16(pos[4:], index)
	return mac(secret[:], []byte(labelSplitfileBlock), []byte{0}, pos[:])
}
