// Package fcp implements Lethe's client protocol: the subset of Freenet's Client Protocol
// version 2 (FCPv2) that programs written for Freenet use, so that they can drive a Lethe node
// unchanged, and a Go client for it that Lethe's own command line uses.
//
// The server speaks plain text over TCP on 127.0.0.1:9481: a message is a name line, Key=Value
// lines and an end marker, optionally followed by raw data (docs/spec.md §16). It answers
// ClientHello, GenerateSSK, ClientPut, ClientGet, ClientPutComplexDir, WatchGlobal,
// ListPersistentRequests, GetRequestStatus and RemovePersistentRequest; everything else gets a
// ProtocolError that echoes the request's Identifier.
//
// The server does no inserting or fetching itself. It hands that to a [Backend], which the
// node fills with Lethe's insert and fetch libraries; a Backend reports failures by wrapping
// the sentinel errors declared here, and the server turns them into the failure codes
// Freenet's clients understand (see [ErrDataNotFound] and its siblings).
package fcp
