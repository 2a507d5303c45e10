package node

import (
	"lethe/crypto"
	"lethe/datastore"
	"lethe/fcp"
	"lethe/fetch"
	"lethe/insert"
	"lethe/routing"
	"lethe/transport"
)

// loggedSentinels are the errors whose texts a log line of the node may carry: each names a
// kind of failure and nothing it failed on. Every other error reaches the log only as the
// types of its chain (private.Handler, spec §19.10): its text may hold a URI, a routing key,
// a site's or a file's name, or words of a client's.
var loggedSentinels = []error{
	fetch.ErrBlockNotFound, fetch.ErrTooLarge, fetch.ErrNotFound, fetch.ErrIsDirectory,
	fetch.ErrCorrupt, fetch.ErrEncrypted, fetch.ErrTooManyHops, fetch.ErrEditionNotFound,
	routing.ErrDataNotFound, routing.ErrRouteNotFound, routing.ErrOverloaded, routing.ErrNoPeers,
	routing.ErrClosed,
	transport.ErrProtocol, transport.ErrNotConnected, transport.ErrQueueFull, transport.ErrClosed,
	transport.ErrIdentityMismatch, transport.ErrKeyExchange, transport.ErrVersion,
	transport.ErrRefused, transport.ErrFlood, transport.ErrIdle, transport.ErrReplaced,
	transport.ErrDisconnected, transport.ErrPeerClosed, transport.ErrIdentityPermissions,
	crypto.ErrVerify, crypto.ErrDecrypt, crypto.ErrMalformed, crypto.ErrCollision,
	crypto.ErrInvalidURI, crypto.ErrAgeNoIdentity,
	datastore.ErrNotFound, datastore.ErrClosed, datastore.ErrCorrupt, datastore.ErrDiskFull,
	insert.ErrPath,
	fcp.ErrCancelled,
}
