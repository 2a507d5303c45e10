package main

import (
	"context"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
)

// TestInsertByPath: lethe insert hands a node on this machine the file by its path
// (UploadFrom=disk after the TestDDA handshake, spec §16.14), and sends the bytes to a node
// that refuses, as a node refuses every client that does not connect from loopback. Both
// give the file the same key, and the node's test file does not stay in the directory.
func TestInsertByPath(t *testing.T) {
	testnet := network(t)
	remote := nonLoopbackAddr(t)
	dir := t.TempDir()
	content := []byte(strings.Repeat("read where it lies\n", 6000)) // 114 KB
	src := writeFile(t, dir, "by-path.txt", content)

	var uris []string
	for _, tc := range []struct {
		name        string
		from        net.IP // the address the node sees the client come from
		want, not   string // in what the client sent
		whatItMeans string
	}{
		{"local node", nil, "UploadFrom=disk", "UploadFrom=direct", "the node on this machine should read the file itself"},
		{"node that refuses", remote, "UploadFrom=direct", "UploadFrom=disk", "a node that refused the TestDDA handshake must get the bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sent := relayFCP(t, testnet.tn.Nodes[0].FCPAddr(), tc.from)
			r := lethe(t, context.Background(), []string{"LETHE_FCP=" + sent.addr}, nil, "insert", src)
			r.wantCode(t, exitOK)
			uris = append(uris, strings.TrimSpace(r.stdout))
			got := sent.String()
			if !strings.Contains(got, tc.want) || strings.Contains(got, tc.not) {
				t.Errorf("%s; the client sent:\n%s", tc.whatItMeans, firstLines(got, 40))
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				t.Errorf("the file's directory holds %d entries after the insert, want only the file", len(entries))
			}
		})
	}
	if len(uris) == 2 && uris[0] != uris[1] {
		t.Errorf("by path the file got %q, by its bytes %q: the same file through the same node must get the same key", uris[0], uris[1])
	}
}

// firstLines is s up to its nth line: the message headers a client sent, not its data.
func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

// nonLoopbackAddr returns an address of this machine that is not loopback: connecting to a
// node from it makes the node treat the client as one on another machine.
func nonLoopbackAddr(t *testing.T) net.IP {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ip, ok := a.(*net.IPNet); ok && ip.IP.To4() != nil && !ip.IP.IsLoopback() {
			return ip.IP
		}
	}
	t.Skip("this machine has no address but loopback: no client here can be one on another machine")
	return nil
}

// fcpRelay forwards client connections to a node, connecting from a chosen local address,
// and keeps what the clients sent.
type fcpRelay struct {
	syncBuffer
	addr string
}

// relayFCP starts a relay on loopback to the node at nodeAddr; from, if set, is the address
// it connects to the node from. It stops with the test.
func relayFCP(t *testing.T, nodeAddr string, from net.IP) *fcpRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	relay := &fcpRelay{addr: ln.Addr().String()}
	d := net.Dialer{}
	if from != nil {
		d.LocalAddr = &net.TCPAddr{IP: from}
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	keep := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			keep(client)
			node, err := d.Dial("tcp", nodeAddr)
			if err != nil {
				client.Close()
				continue
			}
			keep(node)
			wg.Go(func() {
				io.Copy(io.MultiWriter(node, relay), client)
				node.Close()
			})
			wg.Go(func() {
				io.Copy(client, node)
				client.Close()
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return relay
}
