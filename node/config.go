package node

import (
	"crypto/rand"
	"io"
	"log/slog"
	"time"

	"lethe/crypto"
	"lethe/routing"
	"lethe/wire"
)

// Version is the node software's release, as the status page and FCP's NodeHello show it;
// BuildNumber is the integer Freenet's clients read from NodeHello's Build, raised with each
// release. Build() adds what the binary itself records.
const (
	Version     = "0.1.0"
	BuildNumber = 1
)

// Defaults of a zero Config (spec §19.1).
const (
	DefaultListenAddr   = ":41000"
	DefaultFCPAddr      = "127.0.0.1:9481"
	DefaultProxyAddr    = "127.0.0.1:8888"
	DefaultDrainTimeout = 30 * time.Second
	// Off, as an FCP or proxy address, turns that face off.
	Off = "off"
)

// Tuning of a node (not part of any format).
const (
	statusInterval   = 2 * time.Second  // status file rewritten, friends file looked at
	reconnectEvery   = 10 * time.Second // friends not connected are dialled again
	eagerDialing     = time.Minute      // after start, unlinked friends are dialled every status round
	maintainInterval = 30 * time.Second // opennet: routing.Maintain
	dialTimeout      = 10 * time.Second
)

// Config describes one node. The zero value of every field but Dir works: a darknet node
// listening for links on DefaultListenAddr with the datastore's default sizes and FCP on
// DefaultFCPAddr.
type Config struct {
	// Dir is the data directory: identity, store, friends, seeds, status (spec §19.2).
	// Created (mode 0700) if missing. Required.
	Dir string
	// ListenAddr is where links from other nodes are accepted; DefaultListenAddr if empty.
	ListenAddr string
	// PortMapping asks the router to forward the node's ports (UPnP IGD, NAT-PMP) while it
	// runs and removes the mappings when it stops (spec §19.11). Off in a zero Config (tests,
	// test networks); `lethe node` turns it on unless told not to.
	PortMapping bool
	// QUICAddr is the UDP address where QUIC links are accepted and dialled from; empty:
	// ListenAddr's host and port over UDP (none for a Testnet node); Off: TCP links only.
	QUICAddr string
	// Addresses are what the noderef tells other nodes to dial (host:port, at most 4). If
	// empty: the listening address if its host is given, else this machine's global unicast
	// addresses with the listening port.
	Addresses []string
	// StoreBytes and CacheBytes bound the datastore's two areas (datastore.Options); zero
	// takes the datastore's defaults (1 GiB and 256 MiB).
	StoreBytes, CacheBytes int64
	// MaxPeers is how many peers the node aims for (routing.Config.MaxPeers, default 20).
	MaxPeers int
	// BandwidthLimit bounds, in bytes per second, the data this node sends on behalf of its
	// peers (0: no limit). It is enforced as a limit on the requests and inserts peers may
	// start per second (spec §19.1), since each costs about one block of traffic.
	BandwidthLimit int64
	// UploadLimit and DownloadLimit bound, in bytes per second, everything the node's links
	// send and receive, relayed and its own alike; MonthlyCap bounds the two together in a
	// calendar month, past which the links run at transport.CappedRate (spec §11.6). Zero is
	// no limit. FCP's ModifyConfig changes them while the node runs.
	UploadLimit, DownloadLimit, MonthlyCap int64

	// Opennet lets the node take strangers as peers and find them through Seeds; without
	// it the node is darknet: only friends (FriendsFile) may link to it.
	Opennet bool
	// SeedNode makes an opennet node a seed that newcomers announce themselves through.
	SeedNode bool
	// Stem sends the node's own requests and inserts along the stem (spec §18.2) instead of
	// through tunnels (spec §18.11), the default. Every node relays and ends other nodes'
	// tunnels, and walks the stems that reach it, whatever it is set to.
	Stem bool
	// Seeds are opennet seed nodes, in addition to those in SeedsFile.
	Seeds []*wire.NodeRef

	// Location fixes the node's location on the circle and turns location swapping off
	// (test networks). Zero: the location kept in the data directory, or a random one on
	// the first run.
	Location crypto.Location

	// FCPAddr is where the client protocol listens; DefaultFCPAddr if empty, Off for none.
	FCPAddr string
	// ProxyAddr is where the browsing proxy listens; DefaultProxyAddr if empty, Off for none.
	ProxyAddr string

	// Passphrase seals the identity file (empty: a plain file of mode 0600).
	Passphrase string
	// Testnet marks a node of a test network (FCP's NodeHello says so).
	Testnet bool
	// DrainTimeout is how long stopping waits for inserts in progress before it cancels
	// them; DefaultDrainTimeout if zero.
	DrainTimeout time.Duration
	// InsertWindow and FetchWindow are the blocks one insert or fetch keeps in flight
	// (insert.Config.Window, fetch.Config.Window); the libraries' defaults if zero.
	InsertWindow, FetchWindow int

	// USKPollInterval is how often FCP's USK subscriptions look for a newer edition
	// (fcp.Config.USKPollInterval); fcp.DefaultUSKPollInterval if zero.
	USKPollInterval time.Duration

	// Trace, if set, is called for every routing event of this node (routing.Config.Trace):
	// `lethe bench` counts from it the links each block crosses. It must not block.
	Trace func(routing.Event)

	// Logger receives the node's log; nil discards it.
	Logger *slog.Logger
	// Rand is the randomness for the identity, the insert secret and the location; nil is
	// crypto/rand.
	Rand io.Reader
}

func (c *Config) setDefaults() {
	if c.ListenAddr == "" {
		c.ListenAddr = DefaultListenAddr
	}
	if c.FCPAddr == "" {
		c.FCPAddr = DefaultFCPAddr
	}
	if c.ProxyAddr == "" {
		c.ProxyAddr = DefaultProxyAddr
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.MaxPeers <= 0 {
		c.MaxPeers = 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
}
