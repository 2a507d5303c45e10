package portmap

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// testGateway is a loopback address of this test process's own, for fake routers on the
// fixed NAT-PMP port.
func testGateway(n byte) netip.Addr {
	pid := os.Getpid()
	return netip.AddrFrom4([4]byte{127, 53, byte(pid >> 8), byte(pid)&0xf0 | n})
}

// natpmpServer is a NAT-PMP server (RFC 6886) on loopback: it keeps a table of mappings and
// grants leases of at most maxLease.
type natpmpServer struct {
	conn     *net.UDPConn
	external [4]byte
	maxLease uint32

	mu       sync.Mutex
	table    map[string]uint16 // "udp 41000" → external port
	requests map[string]int    // map requests per "proto port"
}

func newNATPMPServer(t *testing.T, gw netip.Addr, maxLease uint32) *natpmpServer {
	t.Helper()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(gw, 5351)))
	if err != nil {
		t.Skipf("cannot bind a fake NAT-PMP server on %v: %v", gw, err)
	}
	s := &natpmpServer{conn: conn, external: [4]byte{198, 51, 100, 4}, maxLease: maxLease,
		table: map[string]uint16{}, requests: map[string]int{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.serve()
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return s
}

func (s *natpmpServer) serve() {
	buf := make([]byte, 64)
	for {
		n, from, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		req := buf[:n]
		if len(req) < 2 || req[0] != 0 {
			continue
		}
		var resp []byte
		switch op := req[1]; {
		case op == 0 && n == 2:
			resp = make([]byte, 12)
			resp[1] = 128
			copy(resp[8:], s.external[:])
		case (op == 1 || op == 2) && n == 12:
			proto := map[byte]string{1: "udp", 2: "tcp"}[op]
			internal := binary.BigEndian.Uint16(req[4:])
			external := binary.BigEndian.Uint16(req[6:])
			lease := min(binary.BigEndian.Uint32(req[8:]), s.maxLease)
			key := fmt.Sprintf("%s %d", proto, internal)
			s.mu.Lock()
			if lease == 0 {
				delete(s.table, key)
				external = 0
			} else {
				if external == 0 {
					external = 50000 + internal%1000
				}
				s.table[key] = external
				s.requests[key]++
			}
			s.mu.Unlock()
			resp = make([]byte, 16)
			resp[1] = 128 + op
			binary.BigEndian.PutUint16(resp[8:], internal)
			binary.BigEndian.PutUint16(resp[10:], external)
			binary.BigEndian.PutUint32(resp[12:], lease)
		default:
			continue
		}
		s.conn.WriteToUDP(resp, from)
	}
}

func (s *natpmpServer) snapshot() (table map[string]uint16, requests map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	table, requests = map[string]uint16{}, map[string]int{}
	for k, v := range s.table {
		table[k] = v
	}
	for k, v := range s.requests {
		requests[k] = v
	}
	return table, requests
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runMapper runs m until the returned stop is called, which waits for Run to return.
func runMapper(t *testing.T, m *Mapper) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

var nodePorts = []Port{{Proto: "udp", Internal: 41000}, {Proto: "tcp", Internal: 41000}}

// Through NAT-PMP the node's ports are mapped, renewed before their leases run out, and
// removed from the router's table when the node stops.
func TestNATPMPMapsRenewsAndRemoves(t *testing.T) {
	gw := testGateway(1)
	srv := newNATPMPServer(t, gw, 1) // leases of one second
	m := New(Config{Ports: nodePorts, Gateway: gw, NoUPnP: true, Timeout: 2 * time.Second, MinRenew: 100 * time.Millisecond})
	stop := runMapper(t, m)
	waitFor(t, "mappings", 5*time.Second, func() bool { _, ms := m.Mappings(); return len(ms) == 2 })
	method, ms := m.Mappings()
	if method != "NAT-PMP" {
		t.Errorf("mapped through %q", method)
	}
	for _, mp := range ms {
		if mp.External != netip.MustParseAddrPort("198.51.100.4:41000") {
			t.Errorf("mapping %v, want the router's address and the same port", mp)
		}
	}
	waitFor(t, "renewals", 5*time.Second, func() bool {
		_, req := srv.snapshot()
		return req["udp 41000"] >= 3 && req["tcp 41000"] >= 3
	})
	stop()
	if table, _ := srv.snapshot(); len(table) != 0 {
		t.Errorf("mappings left in the router's table after the node stopped: %v", table)
	}
	if _, ms := m.Mappings(); len(ms) != 0 {
		t.Errorf("mappings still reported after Run: %v", ms)
	}
}

// A router whose NAT-PMP port takes packets and never answers costs at most the timeout,
// and stopping is prompt.
func TestSilentRouterCostsNothing(t *testing.T) {
	gw := testGateway(2)
	silent, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(gw, 5351)))
	if err != nil {
		t.Skipf("cannot bind a silent router on %v: %v", gw, err)
	}
	defer silent.Close()
	m := New(Config{Ports: nodePorts, Gateway: gw, NoUPnP: true, Timeout: 300 * time.Millisecond})
	start := time.Now()
	stop := runMapper(t, m)
	waitFor(t, "the first attempt", 3*time.Second, m.Tried)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a silent router held the mapper for %v", d)
	}
	if _, ms := m.Mappings(); len(ms) != 0 {
		t.Errorf("mappings from a silent router: %v", ms)
	}
	start = time.Now()
	stop()
	if d := time.Since(start); d > time.Second {
		t.Errorf("stopping took %v", d)
	}
}

// igdServer is a UPnP Internet Gateway Device on loopback HTTP: a root description and a
// WANIPConnection:1 control point keeping a table of mappings.
type igdServer struct {
	*httptest.Server
	mu    sync.Mutex
	table map[string]string // "UDP 41000" → internal client
}

const igdDescription = `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
<specVersion><major>1</major><minor>0</minor></specVersion>
<device>
<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
<friendlyName>test router</friendlyName><UDN>uuid:igd</UDN>
<deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType><UDN>uuid:wan</UDN>
<deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType><UDN>uuid:conn</UDN>
<serviceList><service>
<serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>
<serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>
<controlURL>/ctl</controlURL><eventSubURL>/evt</eventSubURL><SCPDURL>/scpd.xml</SCPDURL>
</service></serviceList>
</device></deviceList>
</device></deviceList>
</device>
</root>`

func newIGDServer(t *testing.T) *igdServer {
	s := &igdServer{table: map[string]string{}}
	field := func(body, name string) string {
		m := regexp.MustCompile("<" + name + ">([^<]*)</" + name + ">").FindStringSubmatch(body)
		if m == nil {
			return ""
		}
		return m[1]
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/rootDesc.xml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, igdDescription)
	})
	mux.HandleFunc("/ctl", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		body := string(b)
		action := r.Header.Get("SOAPAction")
		action = strings.Trim(action[strings.Index(action, "#")+1:], `"`)
		out := ""
		s.mu.Lock()
		switch action {
		case "GetExternalIPAddress":
			out = "<NewExternalIPAddress>198.51.100.5</NewExternalIPAddress>"
		case "AddPortMapping":
			s.table[field(body, "NewProtocol")+" "+field(body, "NewExternalPort")] = field(body, "NewInternalClient")
		case "DeletePortMapping":
			delete(s.table, field(body, "NewProtocol")+" "+field(body, "NewExternalPort"))
		}
		s.mu.Unlock()
		w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
		fmt.Fprintf(w, `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:%sResponse xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1">%s</u:%sResponse></s:Body></s:Envelope>`, action, out, action)
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func (s *igdServer) snapshot() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for k, v := range s.table {
		out[k] = v
	}
	return out
}

// Through UPnP IGD the node's ports are mapped to this machine, and the mappings are gone
// from the router's table when the node stops.
func TestUPnPMapsAndRemoves(t *testing.T) {
	srv := newIGDServer(t)
	m := New(Config{Ports: nodePorts, IGDURL: srv.URL + "/rootDesc.xml", NoNATPMP: true, Timeout: 3 * time.Second})
	stop := runMapper(t, m)
	waitFor(t, "mappings", 10*time.Second, func() bool { _, ms := m.Mappings(); return len(ms) == 2 })
	method, ms := m.Mappings()
	if method != "UPnP IGD" || ms[0].External != netip.MustParseAddrPort("198.51.100.5:41000") {
		t.Errorf("mapped through %q: %v", method, ms)
	}
	table := srv.snapshot()
	if table["UDP 41000"] != "127.0.0.1" || table["TCP 41000"] != "127.0.0.1" {
		t.Errorf("router's table %v, want UDP and TCP 41000 to 127.0.0.1", table)
	}
	stop()
	if table := srv.snapshot(); len(table) != 0 {
		t.Errorf("mappings left in the router's table after the node stopped: %v", table)
	}
}
