// Package private keeps what passes through a node for its user from showing where the
// node's operator, or whoever holds its disk, can look (docs/spec.md §19.10):
//
//   - Spool: data on its way elsewhere — a site uploaded through the proxy until it is
//     inserted, a large file fetched in the background until the browser has read it, an
//     insert's data while it is hashed — sealed (AES-256-GCM) under keys that live only in
//     the process's memory, in files with random or keyed names. Whoever reads the directory,
//     while the process runs or after it crashed, learns how much is spooled and nothing
//     else, not even which blocks or files they are. A crash leaves files nobody can open;
//     the next OpenSpool of the directory removes them.
//   - ReadSecretFile: a secret the node keeps (the insert secret, the proxy's key) is read
//     only from a file no other user may read.
//   - Error and Handler: the form in which an error reaches a log, which says what kind of
//     thing failed, never which URI, file name or content it was about.
package private
