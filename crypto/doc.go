// Package crypto implements Lethe's keys, blocks and URIs: content hash keys (CHK), signed
// subspace keys (SSK) with a hybrid Ed25519 + ML-DSA-65 signature, keyword keys (KSK),
// updatable site keys (USK), node identities and the location of a key on the routing circle.
//
// Everything here is a pure function of its inputs: no I/O, no clocks, randomness only through
// an io.Reader the caller hands in. The byte layouts, sizes and derivation labels are normative
// and written down in docs/spec.md; each function cites the section it implements.
//
// This is the only package of Lethe that imports golang.org/x/crypto, circl and age.
package crypto
