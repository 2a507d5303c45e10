package node

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestProxyServesThroughTheNetwork: a file inserted at one node through the client protocol
// opens in a browser through the first node's proxy, and the status page shows the node.
func TestProxyServesThroughTheNetwork(t *testing.T) {
	tn := startTestnet(t, 8, nil)
	first := tn.Nodes[0]
	if first.ProxyAddr() == "" {
		t.Fatal("the test network's first node serves no proxy")
	}
	page := "<html><head><title>Hello</title></head><body><p>Hello through the proxy</p><script>alert(1)</script></body></html>"
	uri := put(t, dialFCP(t, tn.Nodes[tn.Farthest(0)]), []byte(page), "hello.html")

	client := &http.Client{Timeout: time.Minute}
	get := func(path string) (int, string, http.Header) {
		t.Helper()
		req, err := http.NewRequestWithContext(context.Background(), "GET", "http://"+first.ProxyAddr()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Sec-Fetch-Site", "none") // the user typed it
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), resp.Header
	}
	// The bare CHK: the proxy takes a name after a single file's CHK for a path in a site.
	code, body, hdr := get("/" + uri.WithPath("").String())
	if code != http.StatusOK || !strings.Contains(body, "Hello through the proxy") {
		t.Fatalf("GET %v through the proxy: %d\n%s", uri, code, body)
	}
	if strings.Contains(body, "alert(1)") {
		t.Error("the page's script reached the browser")
	}
	if hdr.Get("Content-Security-Policy") == "" {
		t.Error("no Content-Security-Policy on filtered content")
	}
	code, body, _ = get("/status")
	if code != http.StatusOK || !strings.Contains(body, first.ID().Short()) {
		t.Errorf("status page: %d, does not name the node %s", code, first.ID().Short())
	}
	if !strings.Contains(body, "upload no limit, download no limit, no monthly cap") {
		t.Error("status page does not show the bandwidth limits")
	}
	if want := Build().compact(); !strings.Contains(body, want) {
		t.Errorf("status page does not show the build %q", want)
	}
}
