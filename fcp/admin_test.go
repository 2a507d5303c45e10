package fcp

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// memAdmin is a node of two peers for the management messages' tests.
type memAdmin struct {
	mu       sync.Mutex
	peers    []PeerData // guarded by mu
	limit    string     // node.outputBandwidthLimit; guarded by mu
	shutdown chan struct{}
}

func newMemAdmin() *memAdmin {
	return &memAdmin{
		peers: []PeerData{
			{Identity: "AAAAfirst", Fields: []Field{{"location", "0.25"}, {"volatile.status", "CONNECTED"}}},
			{Identity: "BBBBsecond", Fields: []Field{{"volatile.status", "DISCONNECTED"}}},
		},
		limit:    "0",
		shutdown: make(chan struct{}),
	}
}

func (a *memAdmin) NodeData() []Field {
	return []Field{{"identity", "SELFnode"}, {"location", "0.5"}, {"version", "Lethe,0.1.0,2.0,1"}}
}

func (a *memAdmin) Peers() []PeerData {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]PeerData(nil), a.peers...)
}

func (a *memAdmin) AddPeer(ctx context.Context, ref string) (PeerData, error) {
	id, ok := strings.CutPrefix(strings.SplitN(ref, "\n", 2)[0], "id ")
	if !ok {
		return PeerData{}, fmt.Errorf("%w: no id line", ErrBadNodeRef)
	}
	if id == "SELFnode" {
		return PeerData{}, ErrPeerIsSelf
	}
	if _, err := a.Peer(id); err == nil {
		return PeerData{}, ErrDuplicatePeer
	}
	p := PeerData{Identity: id, Fields: []Field{{"volatile.status", "DISCONNECTED"}}}
	a.mu.Lock()
	a.peers = append(a.peers, p)
	a.mu.Unlock()
	return p, nil
}

func (a *memAdmin) Peer(id string) (PeerData, error) {
	for _, p := range a.Peers() {
		if len(id) >= 4 && strings.HasPrefix(p.Identity, id) {
			return p, nil
		}
	}
	return PeerData{}, ErrNoSuchPeer
}

func (a *memAdmin) RemovePeer(id string) (PeerData, error) {
	p, err := a.Peer(id)
	if err != nil {
		return p, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range a.peers {
		if a.peers[i].Identity == p.Identity {
			a.peers = append(a.peers[:i], a.peers[i+1:]...)
			break
		}
	}
	return p, nil
}

func (a *memAdmin) Config() []Setting {
	a.mu.Lock()
	defer a.mu.Unlock()
	return []Setting{
		{Key: "node.outputBandwidthLimit", Current: a.limit, Default: "0", Type: "number", Description: "upload limit"},
		{Key: "node.storeSize", Current: "1073741824", Default: "1073741824", Type: "number", ReadOnly: true, Description: "store"},
	}
}

func (a *memAdmin) ModifyConfig(changes map[string]string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k := range changes {
		if k != "node.outputBandwidthLimit" {
			return fmt.Errorf("%w: %s", ErrSettingReadOnly, k)
		}
	}
	a.limit = changes["node.outputBandwidthLimit"]
	return nil
}

func (a *memAdmin) Shutdown() { close(a.shutdown) }

// What pyFreenet's FCPNode sends for the management calls: the keywords given, then
// Identifier=__global (its pseudo-job for requests that are not transfers).
const (
	pyGetNode    = "GetNode\nWithPrivate=False\nWithVolatile=True\nGiveOpennetRef=False\nIdentifier=__global\nEndMessage\n"
	pyListPeers  = "ListPeers\nWithMetadata=True\nWithVolatile=True\nIdentifier=__global\nEndMessage\n"
	pyGetConfig  = "GetConfig\nWithCurrent=True\nWithDefaults=True\nWithShortDescription=True\nWithDataTypes=True\nIdentifier=__global\nEndMessage\n"
	pyRemovePeer = "RemovePeer\nNodeIdentifier=BBBBsecond\nIdentifier=__global\nEndMessage\n"
	pyShutdown   = "Shutdown\nIdentifier=__global\nEndMessage\n"
)

func pyAddPeerFile(path string) string {
	return "AddPeer\nFile=" + path + "\nTrust=NORMAL\nVisibility=NO\nIdentifier=__global\nEndMessage\n"
}

func TestConformanceNodeManagement(t *testing.T) {
	a := newMemAdmin()
	_, addr := startServer(t, Config{Admin: a})
	c := dialRaw(t, addr)
	c.hello()

	c.send(pyGetNode)
	nd := c.expect("NodeData", "identity", "location", "version", "Identifier")
	wantField(t, nd, "Identifier", "__global")
	wantField(t, nd, "identity", "SELFnode")

	c.send(pyListPeers)
	for _, id := range []string{"AAAAfirst", "BBBBsecond"} {
		p := c.expect("Peer", "identity", "volatile.status", "Identifier")
		wantField(t, p, "identity", id)
	}
	wantField(t, c.expect("EndListPeers", "Identifier"), "Identifier", "__global")

	// AddPeer with a noderef file, as pyFreenet's addpeer(File=…, Trust=…, Visibility=…).
	ref := filepath.Join(t.TempDir(), "friend.noderef")
	os.WriteFile(ref, []byte("id CCCCthird\nprotocol 1 1\n"), 0o600)
	c.send(pyAddPeerFile(ref))
	wantField(t, c.expect("Peer", "identity", "Identifier"), "identity", "CCCCthird")
	c.send(pyAddPeerFile(ref))
	wantField(t, c.expect("ProtocolError", "Code", "Identifier"), "Code", "29")
	c.send("AddPeer\nNodeRef=id SELFnode\\nprotocol 1 1\nIdentifier=__global\nEndMessage\n")
	wantField(t, c.expect("ProtocolError", "Code"), "Code", "28")
	c.send("AddPeer\nNodeRef=garbage\nIdentifier=__global\nEndMessage\n")
	wantField(t, c.expect("ProtocolError", "Code"), "Code", "21")
	c.send("AddPeer\nIdentifier=__global\nEndMessage\n")
	wantField(t, c.expect("ProtocolError", "Code"), "Code", "5")

	// ModifyPeer: no switch of Freenet's means anything for Lethe's peers.
	c.send("ModifyPeer\nNodeIdentifier=AAAAfirst\nIdentifier=__global\nEndMessage\n")
	wantField(t, c.expect("Peer", "identity"), "identity", "AAAAfirst")
	c.send("ModifyPeer\nNodeIdentifier=AAAAfirst\nIsDisabled=True\nIdentifier=__global\nEndMessage\n")
	wantField(t, c.expect("ProtocolError", "Code", "Identifier"), "Code", "16")

	c.send(pyRemovePeer)
	removed := c.expect("PeerRemoved", "Identity", "NodeIdentifier", "Identifier")
	wantField(t, removed, "Identity", "BBBBsecond")
	c.send(pyRemovePeer)
	wantField(t, c.expect("UnknownNodeIdentifier", "NodeIdentifier", "Identifier"), "NodeIdentifier", "BBBBsecond")

	c.send(pyGetConfig)
	cfg := c.expect("ConfigData", "current.node.outputBandwidthLimit", "default.node.storeSize",
		"shortDescription.node.storeSize", "dataType.node.storeSize", "Identifier")
	wantField(t, cfg, "current.node.outputBandwidthLimit", "0")

	c.send("ModifyConfig\nnode.outputBandwidthLimit=1048576\nIdentifier=__global\nEndMessage\n")
	wantField(t, c.expect("ConfigData", "Identifier"), "current.node.outputBandwidthLimit", "1048576")
	c.send("ModifyConfig\nnode.storeSize=1\nIdentifier=__global\nEndMessage\n")
	wantField(t, c.expect("ProtocolError", "Code", "Identifier"), "Code", "8")

	c.send(pyShutdown)
	sd := c.expect("ProtocolError", "Code", "Fatal")
	wantField(t, sd, "Code", "18")
	wantField(t, sd, "Fatal", "true")
	c.expectClosed()
	select {
	case <-a.shutdown:
	default:
		t.Error("Shutdown did not reach the node")
	}
}

// TestNodeManagementWithoutAdmin: a server with no node behind it says so.
func TestNodeManagementWithoutAdmin(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dialRaw(t, addr)
	c.hello()
	c.send(pyListPeers)
	wantField(t, c.expect("ProtocolError", "Code", "Identifier"), "Code", "16")
}
