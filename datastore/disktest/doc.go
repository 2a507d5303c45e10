// Package disktest gives tests a small disk to fill: a tmpfs of a given size, mounted for
// the test and unmounted after it. The datastore's, the node's and the whole-network
// full-disk tests share it. It is test support: only tests import it.
package disktest
