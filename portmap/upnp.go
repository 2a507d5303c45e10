package portmap

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/huin/goupnp"
	"github.com/huin/goupnp/dcps/internetgateway2"
)

const upnpName = "UPnP IGD"

// igdClient is what the three WAN connection services of an IGD (IP v1 and v2, PPP) share.
type igdClient interface {
	AddPortMappingCtx(ctx context.Context, remoteHost string, externalPort uint16, protocol string, internalPort uint16, internalClient string, enabled bool, description string, lease uint32) error
	DeletePortMappingCtx(ctx context.Context, remoteHost string, externalPort uint16, protocol string) error
	GetExternalIPAddressCtx(ctx context.Context) (string, error)
	GetServiceClient() *goupnp.ServiceClient
}

type upnpRouter struct {
	c           igdClient
	local       string // this machine's address towards the router
	description string
}

func (r *upnpRouter) name() string { return upnpName }

// upnp finds an IGD, by SSDP or at Config.IGDURL, within the timeout; nil if none answers.
func (m *Mapper) upnp(ctx context.Context) router {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	var clients []igdClient
	if m.cfg.IGDURL != "" {
		u, err := url.Parse(m.cfg.IGDURL)
		if err != nil {
			m.log.Warn("UPnP IGD address", "err", err)
			return nil
		}
		clients = igdClientsAt(ctx, u)
	} else {
		clients = discoverIGDs(ctx)
	}
	for _, c := range clients {
		local := c.GetServiceClient().LocalAddr()
		if local == nil {
			local = localAddrTowards(c.GetServiceClient().Location)
		}
		if local == nil {
			continue
		}
		if _, err := c.GetExternalIPAddressCtx(ctx); err != nil {
			continue
		}
		return &upnpRouter{c: c, local: local.String(), description: m.cfg.Description}
	}
	return nil
}

// discoverIGDs looks for the WAN connection services of IGDs on the LAN, the three kinds at
// once, until ctx ends.
func discoverIGDs(ctx context.Context) []igdClient {
	var mu sync.Mutex
	var out []igdClient
	var wg sync.WaitGroup
	add := func(cs []igdClient) {
		mu.Lock()
		out = append(out, cs...)
		mu.Unlock()
	}
	wg.Go(func() { add(clients(internetgateway2.NewWANIPConnection2ClientsCtx(ctx))) })
	wg.Go(func() { add(clients(internetgateway2.NewWANIPConnection1ClientsCtx(ctx))) })
	wg.Go(func() { add(clients(internetgateway2.NewWANPPPConnection1ClientsCtx(ctx))) })
	wg.Wait()
	return out
}

// igdClientsAt reads the IGD whose root device description is at u.
func igdClientsAt(ctx context.Context, u *url.URL) []igdClient {
	var out []igdClient
	out = append(out, clientsAt(internetgateway2.NewWANIPConnection2ClientsByURLCtx(ctx, u))...)
	out = append(out, clientsAt(internetgateway2.NewWANIPConnection1ClientsByURLCtx(ctx, u))...)
	out = append(out, clientsAt(internetgateway2.NewWANPPPConnection1ClientsByURLCtx(ctx, u))...)
	return out
}

// clients and clientsAt turn a discovery's typed clients into igdClients, dropping errors:
// a service that does not answer is one router fewer.
func clients[C igdClient](cs []C, _ []error, _ error) []igdClient {
	out := make([]igdClient, 0, len(cs))
	for _, c := range cs {
		out = append(out, c)
	}
	return out
}

func clientsAt[C igdClient](cs []C, err error) []igdClient { return clients(cs, nil, err) }

// localAddrTowards is this machine's address on the route to the host of u.
func localAddrTowards(u *url.URL) net.IP {
	if u == nil {
		return nil
	}
	host := u.Hostname()
	c, err := net.Dial("udp", net.JoinHostPort(host, "9")) // no packet is sent
	if err != nil {
		return nil
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP
}

func (r *upnpRouter) add(ctx context.Context, p Port, external uint16, lease time.Duration) (Mapping, error) {
	ipText, err := r.c.GetExternalIPAddressCtx(ctx)
	if err != nil {
		return Mapping{}, fmt.Errorf("%s: outside address: %w", upnpName, err)
	}
	ip, err := netip.ParseAddr(strings.TrimSpace(ipText))
	if err != nil {
		return Mapping{}, fmt.Errorf("%s: outside address %q: %w", upnpName, ipText, err)
	}
	if external == 0 {
		// UPnP has no "any port": after the port wanted, one next to it.
		external = p.Internal + 1
		if p.Internal == 65535 {
			external = p.Internal - 1
		}
	}
	secs := uint32(lease / time.Second)
	proto := strings.ToUpper(p.Proto)
	err = r.c.AddPortMappingCtx(ctx, "", external, proto, p.Internal, r.local, true, r.description, secs)
	if err != nil && isOnlyPermanent(err) {
		secs, lease = 0, 0
		err = r.c.AddPortMappingCtx(ctx, "", external, proto, p.Internal, r.local, true, r.description, 0)
	}
	if err != nil {
		return Mapping{}, fmt.Errorf("%s: map %s port %d: %w", upnpName, p.Proto, p.Internal, err)
	}
	return Mapping{Proto: p.Proto, Internal: p.Internal, External: netip.AddrPortFrom(ip.Unmap(), external), lease: lease}, nil
}

// isOnlyPermanent: the router takes only mappings without a lease (UPnP error 725).
func isOnlyPermanent(err error) bool {
	return err != nil && strings.Contains(err.Error(), "725")
}

func (r *upnpRouter) remove(ctx context.Context, m Mapping) error {
	return r.c.DeletePortMappingCtx(ctx, "", m.External.Port(), strings.ToUpper(m.Proto))
}
