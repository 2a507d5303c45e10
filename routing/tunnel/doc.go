// Package tunnel builds and relays Lethe's tunnels (docs/spec.md §18.11): short encrypted
// paths over existing peer links through which a node sends its own requests and inserts, so
// that only the tunnel's end, three links away, sees their keys.
//
// One Tunnels value serves a node in every role: it relays other nodes' tunnels, ends them
// (handing the requests that come out to the node's routing through End), and builds the
// node's own, through its guards, for Get and Put. It knows nothing of routing by key; package
// routing feeds it the tunnel messages of its links and the links' comings and goings.
package tunnel
