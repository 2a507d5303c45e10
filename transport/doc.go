// Package transport carries Lethe's messages between nodes (spec §11): links over TCP with
// TLS 1.3, the hybrid post-quantum key exchange X25519MLKEM768 and both ends pinned to the
// Ed25519 identities of their noderefs; frames padded to two size classes, with block
// transfers split so they do not hold up small messages; keepalives, redialling with a short
// capped backoff, and per-peer limits enforced before any message is decoded. Inbound
// handshakes pass a HandshakeGate, which every listener of links must use.
//
// The routing layer sees links through the Transport interface and receives events through
// a Handler. TCP is the real transport; MemNetwork and MemNode give the same interface inside
// one process for unit tests and simulations of thousands of nodes.
//
// The package also keeps the node's identity file (LoadIdentity, SaveIdentity).
package transport
