// Package metadata implements the formats that insert and fetch share (docs/spec.md §12–§13):
// metadata documents (data held inline, redirects, splitfile descriptors, site manifests), the
// layout of splitfiles into segments, the Reed–Solomon code that adds check blocks to a
// segment, the compression codec, and MIME types.
//
// Every URI names a top block whose payload is one metadata document. A document either holds
// the content itself (Inline), points at another URI (Redirect), lists the CHK blocks the
// content was split into (Splitfile), or maps names to further documents (Manifest). A
// document too large for its block is itself split, and a small Splitfile document with the
// Metadata flag points at it: nested metadata.
//
// Decode is a parser of bytes from the network: it bounds every count by the bytes that
// remain before it allocates, accepts exactly one encoding of each document, and is fuzzed.
package metadata
