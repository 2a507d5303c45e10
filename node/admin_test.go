package node

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestNodeManagementOnNode: the management messages, as pyFreenet sends them, against a
// running test network's node: it describes itself and its friends, leaves a friend as it is
// when asked to change what does not apply, drops a friend and takes it back from its noderef, lists its settings and refuses to change one it reads at start,
// and stops when told to.
func TestNodeManagementOnNode(t *testing.T) {
	tn := startTestnet(t, 3, nil)
	n := tn.Nodes[0]
	c := dialRaw(t, n.FCPAddr())
	c.send(pyHello)
	c.expect("NodeHello")

	c.send("GetNode\nWithPrivate=False\nWithVolatile=True\nGiveOpennetRef=False\nIdentifier=__global\nEndMessage\n")
	nd, _ := c.expect("NodeData", "identity", "location", "version", "volatile.numberOfConnected", "Identifier")
	wantValue(t, nd, "identity", n.ID().String())
	wantValue(t, nd, "testnet", "true")

	// Friends: node 0 of three is linked to both others.
	var friend string
	c.send("ListPeers\nWithMetadata=True\nWithVolatile=True\nIdentifier=__global\nEndMessage\n")
	for range 2 {
		p, _ := c.expect("Peer", "identity", "volatile.status", "Identifier")
		wantValue(t, p, "metadata.friend", "true")
		friend = p.Value("identity")
	}
	c.expect("EndListPeers")

	// ModifyPeer: a friend's entry comes back unchanged; a switch of Freenet's that means
	// nothing for Lethe's friends is refused, and the friend stays linked.
	c.send("ModifyPeer\nNodeIdentifier=" + friend + "\nIdentifier=__global\nEndMessage\n")
	mp, _ := c.expect("Peer", "identity")
	wantValue(t, mp, "identity", friend)
	c.send("ModifyPeer\nNodeIdentifier=" + friend + "\nIsDisabled=True\nIdentifier=__global\nEndMessage\n")
	refused, _ := c.expect("ProtocolError", "Code")
	wantValue(t, refused, "Code", "16")
	if got := len(n.router.Peers()); got != 2 {
		t.Errorf("%d peers after a refused ModifyPeer, want 2", got)
	}

	ref := ""
	for _, r := range n.friends.list() {
		if r.ID().String() == friend {
			ref = r.Text()
		}
	}
	c.send("RemovePeer\nNodeIdentifier=" + friend[:10] + "\nIdentifier=__global\nEndMessage\n")
	rm, _ := c.expect("PeerRemoved", "Identity")
	wantValue(t, rm, "Identity", friend)
	if _, err := ReadNodeRefs(FriendsFile(n.Dir())); err != nil || len(n.friends.list()) != 1 {
		t.Errorf("after RemovePeer the node has %d friends, want 1 (%v)", len(n.friends.list()), err)
	}
	c.send("AddPeer\nNodeRef=" + strings.ReplaceAll(strings.TrimSuffix(ref, "\n"), "\n", `\n`) + "\nTrust=NORMAL\nVisibility=NO\nIdentifier=__global\nEndMessage\n")
	add, _ := c.expect("Peer", "identity")
	wantValue(t, add, "identity", friend)
	deadline := time.Now().Add(time.Minute)
	for len(n.router.Peers()) < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := len(n.router.Peers()); got != 2 {
		t.Errorf("%d peers a minute after AddPeer, want 2", got)
	}

	c.send("GetConfig\nWithCurrent=True\nWithDefaults=True\nIdentifier=__global\nEndMessage\n")
	cfg, _ := c.expect("ConfigData", "current.node.storeSize", "current.node.outputBandwidthLimit", "default.node.maxPeers")
	wantValue(t, cfg, "current.fcp.address", n.FCPAddr())
	c.send("ModifyConfig\nnode.outputBandwidthLimit=1048576\nnode.monthlyCap=1000000000\nIdentifier=__global\nEndMessage\n")
	mc, _ := c.expect("ConfigData", "current.node.outputBandwidthLimit")
	wantValue(t, mc, "current.node.outputBandwidthLimit", "1048576")
	if st := n.Status(); st.Links.UploadLimit != 1<<20 || st.Links.MonthlyCap != 1e9 || st.Links.Sent == 0 {
		t.Errorf("the status after ModifyConfig: %+v", st.Links)
	}
	// The status page shows the version, the new limits and the month's use.
	page := statusPage(t, n)
	for _, want := range []string{"<th>Version</th><td>" + Build().compact() + "</td>",
		"upload 1.0 MiB/s, download no limit, monthly cap ", "used this month)", "of the monthly cap of "} {
		if !strings.Contains(page, want) {
			t.Errorf("the status page after ModifyConfig lacks %q", want)
		}
	}
	c.send("ModifyConfig\nnode.storeSize=1\nIdentifier=__global\nEndMessage\n")
	pe, _ := c.expect("ProtocolError", "Code")
	wantValue(t, pe, "Code", "8")

	// A request on the global queue gets a new priority and token (ModifyPersistentRequest).
	c.send("WatchGlobal\nEnabled=true\nIdentifier=None\nEndMessage\n")
	c.send("ClientPut\nIdentifier=keep\nURI=CHK@\nPersistence=forever\nGlobal=true\nPriorityClass=4\nUploadFrom=direct\nDataLength=5\nData\nhello")
	c.expect("URIGenerated", "URI")
	c.expect("PutSuccessful", "URI")
	c.send("ModifyPersistentRequest\nIdentifier=keep\nGlobal=True\nClientToken=mine\nPriorityClass=1\nEndMessage\n")
	mod, _ := c.expect("PersistentRequestModified", "ClientToken", "PriorityClass")
	wantValue(t, mod, "PriorityClass", "1")
	c.send("ListPersistentRequests\nIdentifier=__global\nEndMessage\n")
	pp, _ := c.expect("PersistentPut", "ClientToken")
	wantValue(t, pp, "ClientToken", "mine")
	c.expect("URIGenerated")
	c.expect("PutSuccessful")
	c.expect("EndListPersistentRequests")

	c.send("Shutdown\nIdentifier=__global\nEndMessage\n")
	sd, _ := c.expect("ProtocolError", "Code")
	wantValue(t, sd, "Code", "18")
	select {
	case <-n.stopped():
	case <-time.After(time.Minute):
		t.Fatal("the node still runs a minute after Shutdown")
	}
}

// statusPage fetches the node's status page as the user's browser does.
func statusPage(t *testing.T, n *Node) string {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), "GET", "http://"+n.ProxyAddr()+"/status", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Sec-Fetch-Site", "none") // the user typed it
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the status page: %d, %v", resp.StatusCode, err)
	}
	return string(body)
}

// stopped is closed when Run has returned.
func (n *Node) stopped() <-chan struct{} {
	n.runMu.Lock()
	defer n.runMu.Unlock()
	return n.running
}
