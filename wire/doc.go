// Package wire defines every message Lethe nodes exchange and its binary encoding (spec
// §10), and noderefs, the signed text by which nodes introduce themselves (spec §9).
//
// Decoding is strict and bounded: every length a peer controls is checked against its limit
// before anything is allocated, values outside their ranges are refused, and each message
// has exactly one encoding. Encoding checks the same limits, so a message that encodes also
// decodes. The package does no I/O; the transport package frames, pads and carries the
// messages over links.
package wire
