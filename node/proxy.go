package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"

	"lethe/crypto"
	"lethe/insert"
	"lethe/proxy"
	"lethe/transport"
)

// openProxy binds the browsing proxy's listener and makes the proxy (spec §20), which
// fetches and inserts through the router and shows the node's status.
func (n *Node) openProxy() error {
	ln, err := net.Listen("tcp", n.cfg.ProxyAddr)
	if err != nil {
		return fmt.Errorf("node: browsing proxy on %s: %w", n.cfg.ProxyAddr, listenError(err))
	}
	srv, err := proxy.New(proxy.Config{
		Getter:   n.net,
		Putter:   n.net,
		Uploads:  proxyUploads{n.uploads},
		Status:   n.proxyStatus,
		Addr:     ln.Addr().String(),
		StateDir: n.path(proxyDir),
		Logger:   n.log.With("part", "proxy"),
	})
	if err != nil {
		ln.Close()
		return fmt.Errorf("node: browsing proxy: %w", err)
	}
	n.proxy, n.proxyLn = srv, &clientListener{Listener: ln}
	return nil
}

// serveProxy serves the proxy until it closes.
func (n *Node) serveProxy() {
	if err := n.proxy.Serve(n.proxyLn); err != nil && !errors.Is(err, proxy.ErrClosed) && !errors.Is(err, net.ErrClosed) {
		n.log.Error("browsing proxy stopped", "err", err)
	}
}

// proxyStatus is the node's status as the proxy's status page shows it. Peers' addresses are
// left out: the page is one screenshot away from being shared.
func (n *Node) proxyStatus() proxy.Status {
	st := n.Status()
	ps := proxy.Status{
		NodeID:      n.ID(),
		Location:    crypto.Location(st.Location),
		Opennet:     st.Opennet,
		Version:     st.Build.compact(),
		UploadLimit: st.Links.UploadLimit, DownloadLimit: st.Links.DownloadLimit,
		MonthlyCap: st.Links.MonthlyCap, MonthUsed: st.Links.MonthUsed, CapReached: st.Links.CapReached,
		CappedRate: transport.CappedRate,
		Started:    st.Started,
		Store:      proxy.AreaStatus{Blocks: st.Store.Blocks, Bytes: st.Store.Bytes, Bound: max(st.Store.Bound, 0)},
		Cache:      proxy.AreaStatus{Blocks: st.Cache.Blocks, Bytes: st.Cache.Bytes, Bound: max(st.Cache.Bound, 0)},
		Errors:     st.Errors,
		Reach:      st.Reach.State, ReachAdvice: st.Reach.Advice,
	}
	for _, p := range st.Peers {
		id, err := crypto.ParseNodeID(p.ID)
		if err != nil {
			continue
		}
		ps.Peers = append(ps.Peers, proxy.PeerStatus{
			ID: id, Location: crypto.Location(p.Location), Darknet: p.Friend,
			BytesIn: int64(p.BytesIn), BytesOut: int64(p.BytesOut), Since: p.Since,
		})
	}
	for _, b := range st.Bandwidth {
		ps.Bandwidth = append(ps.Bandwidth, proxy.BandwidthSample{Time: b.Time, BytesIn: b.BytesIn, BytesOut: b.BytesOut})
	}
	return ps
}

// proxyUploads takes the proxy's inserts into the node's uploads (spec §19.13). Their keys are
// random (the proxy draws them), so each is a block log of a random name.
type proxyUploads struct{ u *uploads }

func (p proxyUploads) Upload(ctx context.Context, insertInto func(insert.BlockPutter) (crypto.RequestURI, error)) (crypto.RequestURI, func(context.Context, func(int64, int64)) error, error) {
	var b [12]byte
	rand.Read(b[:])
	name := hex.EncodeToString(b[:])
	uri, err := p.u.encode(name, insertInto)
	if err != nil {
		return crypto.RequestURI{}, nil, err
	}
	up, err := p.u.start(name)
	if err != nil {
		return crypto.RequestURI{}, nil, err
	}
	return uri, up.wait, nil
}
