package portmap

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	natpmp "github.com/jackpal/go-nat-pmp"
)

const natpmpName = "NAT-PMP"

type natpmpRouter struct {
	gateway netip.Addr
	timeout time.Duration
}

func (r *natpmpRouter) name() string { return natpmpName }

// client is a NAT-PMP client whose every call ends by ctx's deadline (the library takes a
// timeout, not a context).
func (r *natpmpRouter) client(ctx context.Context) *natpmp.Client {
	timeout := r.timeout
	if d, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(d), time.Millisecond)
	}
	return natpmp.NewClientWithTimeout(net.IP(r.gateway.AsSlice()), timeout)
}

// natpmp is the NAT-PMP server at the default gateway (or Config.Gateway), if it answers
// within the timeout; nil otherwise.
func (m *Mapper) natpmp(ctx context.Context) router {
	gw := m.cfg.Gateway
	if !gw.IsValid() {
		gw = defaultGateway()
	}
	if !gw.IsValid() {
		return nil
	}
	r := &natpmpRouter{gateway: gw, timeout: m.cfg.Timeout}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	if _, err := r.client(ctx).GetExternalAddress(); err != nil {
		m.log.Debug("no NAT-PMP server at the gateway", "err", err)
		return nil
	}
	return r
}

func (r *natpmpRouter) add(ctx context.Context, p Port, external uint16, lease time.Duration) (Mapping, error) {
	c := r.client(ctx)
	ext, err := c.GetExternalAddress()
	if err != nil {
		return Mapping{}, fmt.Errorf("%s: outside address: %w", natpmpName, err)
	}
	res, err := c.AddPortMapping(p.Proto, int(p.Internal), int(external), int(lease/time.Second))
	if err != nil {
		return Mapping{}, fmt.Errorf("%s: map %s port %d: %w", natpmpName, p.Proto, p.Internal, err)
	}
	ip := netip.AddrFrom4(ext.ExternalIPAddress)
	return Mapping{
		Proto:    p.Proto,
		Internal: p.Internal,
		External: netip.AddrPortFrom(ip, res.MappedExternalPort),
		lease:    time.Duration(res.PortMappingLifetimeInSeconds) * time.Second,
	}, nil
}

// remove asks for a lifetime of zero, which deletes the mapping (RFC 6886 §3.4).
func (r *natpmpRouter) remove(ctx context.Context, m Mapping) error {
	_, err := r.client(ctx).AddPortMapping(m.Proto, int(m.Internal), 0, 0)
	return err
}

// defaultGateway is the IPv4 gateway of the default route, from /proc/net/route (Linux);
// the zero Addr if there is none.
func defaultGateway() netip.Addr {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return netip.Addr{}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// Iface Destination Gateway Flags …; addresses in hex, host byte order.
		if len(fields) < 4 || fields[1] != "00000000" {
			continue
		}
		b, err := hex.DecodeString(fields[2])
		if err != nil || len(b) != 4 {
			continue
		}
		var ip [4]byte
		binary.LittleEndian.PutUint32(ip[:], binary.BigEndian.Uint32(b))
		if a := netip.AddrFrom4(ip); !a.IsUnspecified() {
			return a
		}
	}
	return netip.Addr{}
}
