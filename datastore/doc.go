// Package datastore implements a Lethe node's block store: one bbolt file holding verified
// CHK and SSK blocks in two separately bounded areas, the long-term store (the blocks closest
// to the node's location) and the cache (recent and popular blocks that passed through).
//
// The file is operator-blind (docs/spec.md §8): a block is filed under an HMAC of its routing
// key with a per-store salt and sealed with a key derived from the routing key, so the file
// shows neither routing keys nor the blocks to someone who does not already know a key.
// SECURITY.md says what it does not hide.
//
// Only blocks that verify against their routing key go in, and every block read back is
// verified again before it is served. Puts are batched into shared transactions by one
// writer goroutine; gets run in parallel read transactions. Both areas evict by an order
// kept in bbolt (the store by distance from the node's location, farthest first; the cache by
// a segmented CLOCK), so memory does not grow with the number of blocks held. Check verifies
// the whole file.
//
// This is the only package of Lethe that imports go.etcd.io/bbolt.
package datastore
