package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"time"

	"lethe/crypto"
	"lethe/datastore"
	"lethe/routing"
	"lethe/transport"
)

// ErrNotRunning: no node is running on the data directory (no status file, or one that has
// not been rewritten for a while).
var ErrNotRunning = errors.New("no node is running on this data directory")

// Status is a snapshot of a running node, for `lethe status`, the proxy's status page and
// the status file (spec §19.2).
type Status struct {
	Build     BuildInfo    `json:"build"`
	Time      time.Time    `json:"time"`
	Started   time.Time    `json:"started"`
	ID        string       `json:"id"`
	Location  float64      `json:"location"`
	Opennet   bool         `json:"opennet"`
	Testnet   bool         `json:"testnet"`
	Dir       string       `json:"dir"`
	LinkAddr  string       `json:"linkAddr"`
	FCPAddr   string       `json:"fcpAddr,omitempty"`
	ProxyAddr string       `json:"proxyAddr,omitempty"`
	NodeRef   string       `json:"noderef"`
	Peers     []PeerStatus `json:"peers"`
	Friends   int          `json:"friends"`
	Store     AreaStatus   `json:"store"`
	Cache     AreaStatus   `json:"cache"`
	// Evictions counts the blocks the store and the cache evicted to stay within their
	// bounds since the node started (spec §8.5, §8.6).
	Evictions uint64 `json:"evictions"`
	BytesIn   uint64 `json:"bytesIn"`
	BytesOut  uint64 `json:"bytesOut"`
	Inserts   int    `json:"inserts"`
	Fetches   int    `json:"fetches"`
	// Uploads are the inserts whose URI is out and whose blocks are still going into the
	// network, largest first (§19.13): counts only.
	Uploads []UploadStatus `json:"uploads"`
	Routing routing.Stats  `json:"routing"`
	// CacheDropped counts blocks passing through that were not cached because the disk was
	// behind (§19.3).
	CacheDropped uint64 `json:"cacheDropped"`
	// DiskFull: the disk holding the store refused a write within the last minute, so the
	// store cannot grow (blocks offered to it are not kept) until space is freed.
	// DiskFullWrites counts the writes refused since the node started.
	DiskFull       bool   `json:"diskFull"`
	DiskFullWrites uint64 `json:"diskFullWrites"`
	// Links is what the links moved and may move: the upload and download limits, the
	// monthly cap, the bytes of the current month and whether the cap is reached (§11.6).
	Links LinkUsage `json:"links"`
	// Bandwidth is the traffic of the recent status rounds, oldest first.
	Bandwidth []BandwidthSample `json:"bandwidth,omitempty"`
	// Reach is how other nodes reach this one (spec §19.11).
	Reach ReachStatus `json:"reach"`
	// Errors are the node's recent warnings and errors, oldest first.
	Errors []string `json:"errors,omitempty"`
}

// PeerStatus is one connected peer.
type PeerStatus struct {
	ID       string    `json:"id"`
	Location float64   `json:"location"` // -1 while unknown
	Friend   bool      `json:"friend"`
	Outbound bool      `json:"outbound"`
	Link     string    `json:"link"` // "quic" or "tcp"
	Since    time.Time `json:"since"`
	BytesIn  uint64    `json:"bytesIn"`
	BytesOut uint64    `json:"bytesOut"`
	Served   int       `json:"served"`
}

// AreaStatus is the use of one area of the datastore.
type AreaStatus struct {
	Blocks int64 `json:"blocks"`
	Bytes  int64 `json:"bytes"`
	Bound  int64 `json:"bound"` // -1: the area is off
}

// Status returns a snapshot of the node.
func (n *Node) Status() Status {
	now := time.Now()
	st := Status{
		Build:     Build(),
		Links:     linkUsage(n.bandwidth.Usage()),
		Time:      now,
		Started:   n.started,
		ID:        n.ID().String(),
		Location:  float64(n.router.Location()),
		Opennet:   n.cfg.Opennet,
		Testnet:   n.cfg.Testnet,
		Dir:       n.cfg.Dir,
		LinkAddr:  n.tr.Addr(),
		FCPAddr:   n.FCPAddr(),
		ProxyAddr: n.ProxyAddr(),
		NodeRef:   n.Ref().Text(),
		Friends:   len(n.friends.list()),
		Routing:   n.router.Stats(),
	}
	links := map[crypto.NodeID]PeerStatus{}
	for _, l := range n.tr.Links() {
		links[l.ID] = PeerStatus{Outbound: l.Outbound, Link: l.Kind, Since: l.Since, BytesIn: l.BytesIn, BytesOut: l.BytesOut}
		st.BytesIn += l.BytesIn
		st.BytesOut += l.BytesOut
	}
	for _, p := range n.router.Peers() {
		ps := links[p.ID]
		ps.ID, ps.Location, ps.Served = p.ID.String(), float64(p.Location), p.Served
		ps.Friend = n.friends.has(p.ID)
		st.Peers = append(st.Peers, ps)
	}
	slices.SortFunc(st.Peers, func(a, b PeerStatus) int {
		switch {
		case a.Location < b.Location:
			return -1
		case a.Location > b.Location:
			return 1
		}
		return 0
	})
	ds := n.ds.Stats()
	st.Store = AreaStatus{Blocks: ds.Store.Blocks, Bytes: ds.Store.Bytes, Bound: ds.Store.Bound}
	st.Cache = AreaStatus{Blocks: ds.Cache.Blocks, Bytes: ds.Cache.Bytes, Bound: ds.Cache.Bound}
	st.Evictions = ds.Evictions
	st.Inserts, st.Fetches = n.backend.running()
	st.Uploads = n.uploads.list()
	st.CacheDropped = n.store.cacheDropped.Load()
	st.DiskFull, st.DiskFullWrites = diskFull(ds, now), ds.DiskFullWrites
	st.Bandwidth = n.hist.bandwidth()
	st.Errors = n.hist.recentErrors()
	st.Reach = n.reachStatus()
	return st
}

// writeStatus rewrites the status file.
func (n *Node) writeStatus() {
	st := n.Status()
	b, err := json.MarshalIndent(st, "", "  ")
	if err == nil {
		err = writeFileAtomic(n.path(statusFile), append(b, '\n'), 0o600)
	}
	if datastore.NoSpace(err) {
		err = n.writeStatusFull(st)
	}
	if err != nil {
		n.log.Warn("status file not written", "err", err)
	}
}

// statusStale is how old a status file may be before the node is taken to be gone.
const statusStale = 5 * statusInterval

// maxStatusFile bounds the status file a reader accepts.
const maxStatusFile = 1 << 20

// ReadStatus reads the status of the node running on a data directory, or ErrNotRunning.
func ReadStatus(dir string) (Status, error) {
	var st Status
	for try := 0; ; try++ {
		b, err := readBounded(filepath.Join(dir, statusFile), maxStatusFile)
		if errors.Is(err, fs.ErrNotExist) {
			return Status{}, ErrNotRunning
		}
		if err != nil {
			return Status{}, err
		}
		err = json.Unmarshal(b, &st)
		if err == nil {
			break
		}
		if try == 2 {
			return Status{}, fmt.Errorf("status file: %w", err)
		}
		// On a full disk the node rewrites the file in place (writeStatusFull): it may
		// have been caught half written.
		time.Sleep(20 * time.Millisecond)
	}
	if age := time.Since(st.Time); age > statusStale {
		return st, fmt.Errorf("%w (its status file is %s old)", ErrNotRunning, age.Round(time.Second))
	}
	return st, nil
}

// maintain is the node's housekeeping while it runs: the status file, the friends file,
// reconnecting friends, opennet upkeep and following the router's location.
func (n *Node) maintain(ctx context.Context) {
	n.syncFriends(ctx, true)
	if n.cfg.Opennet {
		n.router.Maintain(ctx)
	}
	tick := time.NewTicker(statusInterval)
	defer tick.Stop()
	lastDial, lastMaintain := time.Now(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		// In its first minute a node dials unlinked friends every round, not every
		// reconnectEvery: friends who start together (or a friend that refused it because
		// it had not read its friends file yet) then link within seconds. A test network
		// dials its own friendships every second and needs no more.
		eager := !n.cfg.Testnet && now.Sub(n.started) < eagerDialing
		all := now.Sub(lastDial) >= reconnectEvery || eager
		if all {
			lastDial = now
		}
		n.syncFriends(ctx, all)
		if n.cfg.Opennet && now.Sub(lastMaintain) >= maintainInterval {
			lastMaintain = now
			n.router.Maintain(ctx)
		}
		n.followLocation()
		n.followReachability()
		n.sampleTraffic(now)
		n.writeStatus()
	}
}

// followLocation tells the store and the noderef when a location swap moved the node.
func (n *Node) followLocation() {
	loc := n.router.Location()
	n.refMu.Lock()
	moved := loc != n.refLoc
	n.refMu.Unlock()
	if !moved {
		return
	}
	n.ds.SetLocation(loc)
	if err := n.makeRef(loc); err != nil {
		n.log.Warn("noderef not updated after a location swap", "err", err)
	}
	if n.cfg.Location == 0 {
		if err := writeLocation(n.path(locationFile), loc); err != nil {
			n.log.Warn("location not saved", "err", err)
		}
	}
}

// sampleTraffic adds a bandwidth sample from the links' counters.
func (n *Node) sampleTraffic(now time.Time) {
	u := n.bandwidth.Usage()
	n.hist.sample(now, u.Received, u.Sent)
}

// LinkUsage is the status file's form of the links' bandwidth limits and use.
type LinkUsage struct {
	UploadLimit   int64  `json:"uploadLimit"`   // bytes per second; 0: none
	DownloadLimit int64  `json:"downloadLimit"` // bytes per second; 0: none
	MonthlyCap    int64  `json:"monthlyCap"`    // bytes; 0: none
	Sent          int64  `json:"sent"`          // since the node started
	Received      int64  `json:"received"`      // since the node started
	Month         string `json:"month"`         // "2026-12"
	MonthUsed     int64  `json:"monthUsed"`     // bytes sent and received this month
	CapReached    bool   `json:"capReached"`    // the links run at a trickle until the month ends
}

func linkUsage(u transport.Usage) LinkUsage {
	return LinkUsage{UploadLimit: u.Limits.Upload, DownloadLimit: u.Limits.Download, MonthlyCap: u.Limits.Monthly,
		Sent: u.Sent, Received: u.Received, Month: u.Month, MonthUsed: u.MonthUsed, CapReached: u.CapReached}
}
