// Package node wires one Lethe node together (docs/spec.md §19): its identity and data
// directory, the datastore, the TLS links, the router, and the local faces that applications
// use, the client protocol (FCP) and the browsing proxy. New sets a node up from a Config and
// binds its listeners; Run serves until its context ends and then stops the parts in order,
// so that inserts in progress finish or are reported failed and the store is closed cleanly.
//
// The node is also the fcp.Backend: it inserts and fetches through the router with the
// insert and fetch libraries. Testnet starts a small network of real nodes on loopback in one
// process, for trying Lethe on one machine and for the end-to-end tests.
package node
