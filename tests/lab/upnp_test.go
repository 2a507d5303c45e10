//go:build linux

package lab_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"lethe/tests/lab"
)

// TestUPnPRouter checks the lab's UPnP router on its own, with the protocols' plainest
// clients: it answers SSDP discovery for an Internet Gateway Device, tells its outside
// address and maps a port by NAT-PMP, forwards a connection from outside through the
// mapping, and removes the mapping from its table when asked; the same for a mapping by PCP.
//
//	go test ./tests/lab -run TestUPnPRouter -v
func TestUPnPRouter(t *testing.T) {
	l := lab.New(t)
	r := l.AddRouter("home", lab.RouterConfig{NAT: lab.EndpointIndependent, UPnP: true})
	h := r.AddHost("pc")
	out := l.AddPublicHost("out", lab.Link{})

	location := ssdpDiscover(t, h)
	t.Logf("SSDP: an Internet Gateway Device at %s", location)

	c, err := h.ListenUDP(0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	gw := netip.MustParseAddrPort("192.168.1.1:5351")
	ans := natpmp(t, c, gw, []byte{0, 0}, 12)
	if got := netip.AddrFrom4([4]byte(ans[8:12])); got != r.Addr {
		t.Errorf("NAT-PMP says the outside address is %v, want %v", got, r.Addr)
	}
	mapReq := func(lifetime uint32) []byte {
		b := []byte{0, 2, 0, 0}
		b = binary.BigEndian.AppendUint16(b, 41000)
		b = binary.BigEndian.AppendUint16(b, 41000)
		return binary.BigEndian.AppendUint32(b, lifetime)
	}
	ans = natpmp(t, c, gw, mapReq(120), 16)
	ext := binary.BigEndian.Uint16(ans[10:])
	mappings, err := r.Mappings()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("NAT-PMP mapped TCP port %d; the router's table: %q", ext, mappings)
	if len(mappings) != 1 || !strings.Contains(mappings[0], fmt.Sprintf("dport %d", ext)) || !strings.Contains(mappings[0], "192.168.1.2:41000") {
		t.Errorf("the router's table holds %q, want the mapping of port %d to 192.168.1.2:41000", mappings, ext)
	}

	ln, err := h.Listen(41000)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			io.WriteString(c, "through the mapping")
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := out.DialContext(ctx, "tcp4", netip.AddrPortFrom(r.Addr, ext).String())
	if err != nil {
		t.Fatalf("connect from outside through the mapping: %v", err)
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(conn)
	conn.Close()
	if string(got) != "through the mapping" {
		t.Errorf("read %q (%v) through the mapping", got, err)
	}

	natpmp(t, c, gw, mapReq(0), 16)
	if mappings, err := r.Mappings(); err != nil || len(mappings) != 0 {
		t.Errorf("after removing the mapping the router's table holds %q (%v)", mappings, err)
	}

	// PCP (RFC 6887), on the same port: a MAP of UDP 41001, then its removal.
	pcpExt, pcpAddr := pcpMap(t, c, gw, h.Addr, 41001, 120)
	mappings, err = r.Mappings()
	t.Logf("PCP mapped UDP port %d at %v; the router's table: %q", pcpExt, pcpAddr, mappings)
	if pcpAddr != r.Addr || len(mappings) != 1 || !strings.Contains(mappings[0], "192.168.1.2:41001") {
		t.Errorf("PCP mapped at %v and the router's table holds %q (%v), want one mapping to 192.168.1.2:41001 at %v", pcpAddr, mappings, err, r.Addr)
	}
	pcpMap(t, c, gw, h.Addr, 41001, 0)
	if mappings, err := r.Mappings(); err != nil || len(mappings) != 0 {
		t.Errorf("after removing the PCP mapping the router's table holds %q (%v)", mappings, err)
	}
}

// pcpMap sends a PCP MAP request for UDP port from the host at client and returns the
// external port and address of the answer, which must succeed.
func pcpMap(t *testing.T, c *net.UDPConn, gw netip.AddrPort, client netip.Addr, port uint16, lifetime uint32) (uint16, netip.Addr) {
	t.Helper()
	req := []byte{2, 1, 0, 0}
	req = binary.BigEndian.AppendUint32(req, lifetime)
	ip := netip.AddrFrom16(client.As16()).As16() // the IPv4-mapped IPv6 form
	req = append(req, ip[:]...)
	req = append(req, []byte("lethe-lab-01")...) // nonce, 12 bytes
	req = append(req, 17, 0, 0, 0)               // UDP
	req = binary.BigEndian.AppendUint16(req, port)
	req = binary.BigEndian.AppendUint16(req, port)
	req = append(req, make([]byte, 16)...) // no suggested external address
	buf := make([]byte, 1100)
	for range 5 {
		c.WriteToUDPAddrPort(req, gw)
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			continue
		}
		if n < 60 || buf[0] != 2 || buf[1] != 0x81 {
			t.Fatalf("PCP answer % x", buf[:n])
		}
		if buf[3] != 0 {
			t.Fatalf("PCP refused the MAP of port %d (lifetime %d): result %d", port, lifetime, buf[3])
		}
		ext := binary.BigEndian.Uint16(buf[42:])
		return ext, netip.AddrFrom16([16]byte(buf[44:60])).Unmap()
	}
	t.Fatalf("no PCP answer to a MAP of port %d", port)
	return 0, netip.Addr{}
}

// natpmp sends a NAT-PMP request and returns an answer of size bytes with result 0.
func natpmp(t *testing.T, c *net.UDPConn, gw netip.AddrPort, req []byte, size int) []byte {
	t.Helper()
	buf := make([]byte, 64)
	for range 5 {
		c.WriteToUDPAddrPort(req, gw)
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			continue
		}
		if n < size || buf[1] != req[1]+128 {
			t.Fatalf("NAT-PMP answer % x to % x", buf[:n], req)
		}
		if code := binary.BigEndian.Uint16(buf[2:]); code != 0 {
			t.Fatalf("NAT-PMP refused % x: result %d", req, code)
		}
		return buf[:n]
	}
	t.Fatalf("no NAT-PMP answer to % x", req)
	return nil
}

// ssdpDiscover finds the home's Internet Gateway Device by SSDP and returns its location.
func ssdpDiscover(t *testing.T, h *lab.Host) string {
	t.Helper()
	c, err := h.ListenUDP(0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	search := "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\n" +
		"ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n"
	buf := make([]byte, 2048)
	for range 5 {
		c.WriteToUDPAddrPort([]byte(search), netip.MustParseAddrPort("239.255.255.250:1900"))
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(buf[:n]), "\r\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "location") {
				return strings.TrimSpace(v)
			}
		}
	}
	t.Fatal("no answer to SSDP discovery for an Internet Gateway Device")
	return ""
}
