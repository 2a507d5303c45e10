//go:build linux

package lab_test

import (
	"fmt"
	"testing"
	"time"

	"lethe/tests/lab"
)

// wan is the link of the lab's scenarios: 40 ms one way, 0.5% loss.
var wan = lab.Link{Delay: 40 * time.Millisecond, Loss: 0.005}

// TestPublicFriends: five friends on public addresses, over links of 40 ms and 0.5% loss,
// all link within 10 s of adding each other, and one fetches what another inserted.
//
//	go test ./tests/lab -run TestPublicFriends -v
func TestPublicFriends(t *testing.T) {
	l := lab.New(t)
	bin := lab.Binary(t, "lethe/cmd/lethe")
	var nodes []*lab.Node
	for i := range 5 {
		n := l.AddPublicHost(fmt.Sprintf("p%d", i), wan).NewNode(bin)
		n.Start()
		nodes = append(nodes, n)
	}
	lab.Befriend(t, nodes...)
	took, ok := waitFor(10*time.Second, func() bool {
		for _, n := range nodes {
			if n.Peers() < len(nodes)-1 {
				return false
			}
		}
		return true
	})
	if !ok {
		for _, n := range nodes {
			t.Logf("%s: %d peers\n%s", n.Host.Name, n.Peers(), n.Proc.Tail(1500))
		}
		t.Fatalf("the friends are not all linked 10 s after adding each other")
	}
	t.Logf("5 friends all linked %v after adding each other", took.Round(time.Millisecond))
	data := randomFile(1, 100<<10)
	uri := insert(t, nodes[0], data, "hello.bin", time.Minute)
	d, err := fetch(t, nodes[4], uri, data, time.Minute)
	if err != nil {
		t.Fatalf("fetch at %s: %v", nodes[4].Host.Name, err)
	}
	t.Logf("100 KiB inserted at p0 fetched at p4 in %v", d.Round(time.Millisecond))
}
