package node

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"lethe/crypto"
	"lethe/fcp"
	"lethe/wire"
)

// admin is the node's side of FCP's management messages (spec §16.11, §19.5).
type admin struct{ n *Node }

var _ fcp.Admin = admin{}

func field(k, v string) fcp.Field { return fcp.Field{Key: k, Value: v} }

// NodeData describes the node with Freenet's field names where they mean the same, and
// Lethe's own beside them.
func (a admin) NodeData() []fcp.Field {
	n := a.n
	st := n.Status()
	b := st.Build
	return []fcp.Field{
		field("identity", st.ID),
		field("myName", n.ID().Short()),
		field("location", strconv.FormatFloat(st.Location, 'g', -1, 64)),
		field("opennet", strconv.FormatBool(st.Opennet)),
		field("testnet", strconv.FormatBool(st.Testnet)),
		field("version", "Lethe,"+b.Version+","+fcp.ProtocolVersion+","+strconv.Itoa(b.BuildNumber)),
		field("lastGoodVersion", "Lethe,"+b.Version+","+fcp.ProtocolVersion+","+strconv.Itoa(b.BuildNumber)),
		field("revision", b.ShortRevision()),
		field("physical.tcp", strings.Join(n.Ref().Addresses(), ";")),
		field("noderef", strings.ReplaceAll(strings.TrimSuffix(n.Ref().Text(), "\n"), "\n", `\n`)),
		field("volatile.uptimeSeconds", strconv.FormatInt(int64(time.Since(st.Started)/time.Second), 10)),
		field("volatile.numberOfConnected", strconv.Itoa(len(st.Peers))),
		field("volatile.numberOfFriends", strconv.Itoa(st.Friends)),
		field("volatile.storeKeys", strconv.FormatInt(st.Store.Blocks, 10)),
		field("volatile.storeSize", strconv.FormatInt(st.Store.Bytes, 10)),
		field("volatile.cacheKeys", strconv.FormatInt(st.Cache.Blocks, 10)),
		field("volatile.cacheSize", strconv.FormatInt(st.Cache.Bytes, 10)),
		field("volatile.totalInputBytes", strconv.FormatUint(st.BytesIn, 10)),
		field("volatile.totalOutputBytes", strconv.FormatUint(st.BytesOut, 10)),
		field("volatile.diskFull", strconv.FormatBool(st.DiskFull)),
	}
}

// Peers lists the connected peers, then the friends not connected.
func (a admin) Peers() []fcp.PeerData {
	st := a.n.Status()
	var out []fcp.PeerData
	seen := map[string]bool{}
	for _, p := range st.Peers {
		seen[p.ID] = true
		out = append(out, a.peerData(p.ID, &p))
	}
	for _, r := range a.n.friends.list() {
		if id := r.ID().String(); !seen[id] {
			out = append(out, a.peerData(id, nil))
		}
	}
	return out
}

// peerData describes a peer: connected if p is given.
func (a admin) peerData(id string, p *PeerStatus) fcp.PeerData {
	d := fcp.PeerData{Identity: id}
	nid, _ := crypto.ParseNodeID(id)
	d.Fields = append(d.Fields, field("myName", nid.Short()))
	friend := false
	for _, r := range a.n.friends.list() {
		if r.ID() == nid {
			friend = true
			d.Fields = append(d.Fields, field("physical.tcp", strings.Join(r.Addresses(), ";")))
		}
	}
	d.Fields = append(d.Fields, field("opennet", strconv.FormatBool(!friend)), field("metadata.friend", strconv.FormatBool(friend)))
	if p == nil {
		return fcp.PeerData{Identity: id, Fields: append(d.Fields, field("volatile.status", "DISCONNECTED"))}
	}
	if p.Location >= 0 {
		d.Fields = append(d.Fields, field("location", strconv.FormatFloat(p.Location, 'g', -1, 64)))
	}
	d.Fields = append(d.Fields,
		field("volatile.status", "CONNECTED"),
		field("volatile.connectedSeconds", strconv.FormatInt(int64(time.Since(p.Since)/time.Second), 10)),
		field("volatile.totalInputBytes", strconv.FormatUint(p.BytesIn, 10)),
		field("volatile.totalOutputBytes", strconv.FormatUint(p.BytesOut, 10)),
		field("volatile.outbound", strconv.FormatBool(p.Outbound)),
	)
	return d
}

// Peer finds a peer by its ID or a prefix of it (at least 4 characters).
func (a admin) Peer(id string) (fcp.PeerData, error) {
	if len(id) < 4 {
		return fcp.PeerData{}, fmt.Errorf("%w: give at least 4 characters of the peer's identity, not %q", fcp.ErrNoSuchPeer, id)
	}
	var found []fcp.PeerData
	for _, p := range a.Peers() {
		if strings.HasPrefix(p.Identity, id) {
			found = append(found, p)
		}
	}
	switch len(found) {
	case 0:
		return fcp.PeerData{}, fmt.Errorf("%w: no peer's identity starts with %q", fcp.ErrNoSuchPeer, id)
	case 1:
		return found[0], nil
	}
	return fcp.PeerData{}, fmt.Errorf("%w: %d peers' identities start with %q; give more of it", fcp.ErrNoSuchPeer, len(found), id)
}

// AddPeer makes the noderef's node a friend, as `lethe peers add` does, and dials it.
func (a admin) AddPeer(ctx context.Context, text string) (fcp.PeerData, error) {
	ref, err := wire.ParseNodeRef(text)
	if err != nil {
		return fcp.PeerData{}, fmt.Errorf("%w: %v", fcp.ErrBadNodeRef, err)
	}
	if ref.ID() == a.n.ID() {
		return fcp.PeerData{}, fcp.ErrPeerIsSelf
	}
	if a.n.friends.has(ref.ID()) {
		return fcp.PeerData{}, fmt.Errorf("%w: %s is a friend already", fcp.ErrDuplicatePeer, ref.ID().Short())
	}
	if _, err := AddFriend(a.n.cfg.Dir, a.n.ID(), ref); err != nil {
		return fcp.PeerData{}, err
	}
	if _, _, err := a.n.friends.reload(); err != nil {
		return fcp.PeerData{}, err
	}
	// The link comes up in the background: the client is answered now.
	go func() {
		if err := a.n.dial(ctx, ref); err != nil && !errors.Is(err, context.Canceled) {
			a.n.log.Info("friend added over FCP not reached yet; dialled again later", "peer", ref.ID(), "err", err)
		}
	}()
	return a.peerData(ref.ID().String(), nil), nil
}

// RemovePeer removes a friend from the friends file and drops its link.
func (a admin) RemovePeer(id string) (fcp.PeerData, error) {
	p, err := a.Peer(id)
	if err != nil {
		return p, err
	}
	nid, err := crypto.ParseNodeID(p.Identity)
	if err != nil {
		return p, err
	}
	if a.n.friends.has(nid) {
		if _, err := RemoveFriend(a.n.cfg.Dir, p.Identity); err != nil {
			return p, err
		}
		a.n.friends.reload()
	}
	a.n.tr.Disconnect(nid)
	return p, nil
}

// Config lists the node's settings under Freenet's names where there is one.
func (a admin) Config() []fcp.Setting {
	c := a.n.cfg
	bw := a.n.bandwidth.Usage()
	num := func(v int64) string { return strconv.FormatInt(v, 10) }
	return []fcp.Setting{
		{Key: "node.listenAddr", Current: c.ListenAddr, Default: DefaultListenAddr, Type: "string", ReadOnly: true,
			Description: "Where other nodes link to this one (--listen)"},
		{Key: "node.storeSize", Current: num(a.n.ds.Stats().Store.Bound), Default: num(1 << 30), Type: "number", ReadOnly: true,
			Description: "Bytes of long-term store (--store-size)"},
		{Key: "node.cacheSize", Current: num(a.n.ds.Stats().Cache.Bound), Default: num(256 << 20), Type: "number", ReadOnly: true,
			Description: "Bytes of cache (--cache-size)"},
		{Key: "node.maxPeers", Current: strconv.Itoa(c.MaxPeers), Default: "20", Type: "number", ReadOnly: true,
			Description: "Peers the node aims for (--max-peers)"},
		{Key: "node.relayAdmissionLimit", Current: num(c.BandwidthLimit), Default: "0", Type: "number", ReadOnly: true,
			Description: "Bytes per second of requests the node admits from its peers; 0 for no limit (--bandwidth)"},
		{Key: "node.outputBandwidthLimit", Current: num(bw.Limits.Upload), Default: "0", Type: "number",
			Description: "Bytes per second all links send, relayed and own; 0 for no limit (--upload)"},
		{Key: "node.inputBandwidthLimit", Current: num(bw.Limits.Download), Default: "0", Type: "number",
			Description: "Bytes per second all links receive, relayed and own; 0 for no limit (--download)"},
		{Key: "node.monthlyCap", Current: num(bw.Limits.Monthly), Default: "0", Type: "number",
			Description: "Bytes sent and received in a calendar month (UTC), past which links trickle; 0 for none (--monthly-cap)"},
		{Key: "node.opennet.enabled", Current: strconv.FormatBool(c.Opennet), Default: "false", Type: "boolean", ReadOnly: true,
			Description: "Take strangers as peers (--opennet)"},
		{Key: "fcp.address", Current: a.n.FCPAddr(), Default: DefaultFCPAddr, Type: "string", ReadOnly: true,
			Description: "Where the client protocol listens (--fcp)"},
		{Key: "fproxy.address", Current: a.n.ProxyAddr(), Default: DefaultProxyAddr, Type: "string", ReadOnly: true,
			Description: "Where the browsing proxy listens (--proxy)"},
	}
}

// ModifyConfig changes settings while the node runs: the links' bandwidth limits. The others
// are read at start from lethe.conf and the flags, and a change is refused, saying so. The
// changes last until the node stops; lethe.conf keeps what a restart uses.
func (a admin) ModifyConfig(changes map[string]string) error {
	byKey := map[string]fcp.Setting{}
	for _, s := range a.Config() {
		byKey[s.Key] = s
	}
	limits := a.n.bandwidth.Usage().Limits
	fields := map[string]*int64{"node.outputBandwidthLimit": &limits.Upload, "node.inputBandwidthLimit": &limits.Download, "node.monthlyCap": &limits.Monthly}
	for k, v := range changes {
		s, ok := byKey[k]
		switch {
		case !ok:
			return fmt.Errorf("%w: no setting %q", fcp.ErrSettingReadOnly, k)
		case s.ReadOnly:
			return fmt.Errorf("%w: %s is read at start: write it in lethe.conf and restart the node", fcp.ErrSettingReadOnly, k)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%w: %s=%q is not a number of bytes", fcp.ErrSettingReadOnly, k, v)
		}
		*fields[k] = n
	}
	a.n.bandwidth.SetLimits(limits)
	a.n.log.Info("bandwidth limits changed over the client protocol", "upload", limits.Upload, "download", limits.Download, "monthly", limits.Monthly)
	return nil
}

// Shutdown stops the node as SIGTERM does: Run returns once it has stopped.
func (a admin) Shutdown() {
	a.n.log.Warn("shutdown asked for over the client protocol")
	go a.n.Close()
}
