// Package routing is a node's brain (spec §18): it keeps the peers and their locations,
// handles requests and inserts from peers and from the node's own user, forwards them by
// key closeness with hops-to-live, backtracks, detects loops, decides what to cache and what
// to store, and shapes the network: path folding and announcements on opennet, location
// swapping on darknet. It is handed a Store (the datastore) and a transport.Transport (the
// links), and it fills fetch.BlockGetter and insert.BlockPutter for the client side.
//
// Every request, insert and announcement goes through a node as one walk (walk.go, spec
// §18.12), with a kind per message (requestKind, insertKind, announceKind). A node's own
// request is walked exactly as one that reached it from a peer at HTL 18: no peer can tell
// the two apart (spec §18.2; originator_test.go checks it).
//
// The same code runs in a real node and in the simulator (package routing/sim), which puts
// thousands of Routers on the in-memory transport.
package routing
