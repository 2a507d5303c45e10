//go:build linux

package lab

import (
	"context"
	"net"
	"net/netip"

	"lethe/tests/lab/netns"
)

// Sockets made inside a host's namespace stay there: these make them, and the rest of the
// test uses them from anywhere.

// ListenUDP opens a UDP socket on the host (port 0: any).
func (h *Host) ListenUDP(port uint16) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := netns.Do(h.Path(), func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{Port: int(port)})
		return err
	})
	return c, err
}

// Listen opens a TCP listener on the host.
func (h *Host) Listen(port uint16) (net.Listener, error) {
	var ln net.Listener
	err := netns.Do(h.Path(), func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(netip.IPv4Unspecified(), port).String())
		return err
	})
	return ln, err
}

// DialContext connects from the host, as net.Dialer's DialContext does; it fits
// http.Transport and the FCP client.
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := netns.Do(h.Path(), func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}
