//go:build linux

// Command labnet is the lab's internet: one process that carries every packet between the
// lab's sites (public hosts and home routers), each attached through a TUN device in its own
// network namespace, and that delays and drops what each site sends as its link conditions
// say. The kernel here has no netem, so delay and loss are done here, in user space; uplink
// caps are the kernel's (a TBF qdisc on the site's TUN device, set by the lab).
//
// It is started by package lab (tests/lab), which sends it one JSON request a line on
// standard input and reads one answer a line from standard output:
//
//	{"op":"site","name":"r1","netns":"/run/netns/lab-1-r1","tun":"wan0","addrs":["198.18.1.1"],"delayMs":40,"loss":0.005}
//	{"op":"link","name":"r1","delayMs":20,"loss":0}
//	{"op":"stats"}
//
// "site" creates the TUN device in the namespace and routes the addresses to it; "link"
// changes a site's conditions; "stats" answers with every site's counters. Each answer is
// "ok", a JSON object (stats) or "error: …". The process ends when its standard input
// closes, and with it every TUN device it made.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) != 2 || os.Args[1] != "internet" {
		fmt.Fprintln(os.Stderr, "usage: labnet internet   (requests on standard input; see the package documentation)")
		os.Exit(2)
	}
	seed := uint64(os.Getpid())
	if s := os.Getenv("LABNET_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	in := newInternet(seed)
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	out := bufio.NewWriter(os.Stdout)
	for sc.Scan() {
		var req request
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			fmt.Fprintf(out, "error: request %q: %v\n", sc.Text(), err)
			out.Flush()
			continue
		}
		answer, err := in.handle(req)
		switch {
		case err != nil:
			fmt.Fprintf(out, "error: %v\n", err)
		case answer != nil:
			b, _ := json.Marshal(answer)
			fmt.Fprintf(out, "%s\n", b)
		default:
			fmt.Fprintln(out, "ok")
		}
		out.Flush()
	}
}

// request is one line of standard input.
type request struct {
	Op      string   `json:"op"`
	Name    string   `json:"name"`
	Netns   string   `json:"netns"`
	Tun     string   `json:"tun"`
	Addrs   []string `json:"addrs"`
	DelayMs float64  `json:"delayMs"`
	Loss    float64  `json:"loss"`
}

func (in *internet) handle(req request) (any, error) {
	switch req.Op {
	case "site":
		return nil, in.addSite(req)
	case "link":
		return nil, in.setLink(req.Name, req.DelayMs, req.Loss)
	case "stats":
		return in.stats(), nil
	}
	return nil, fmt.Errorf("unknown op %q", req.Op)
}
