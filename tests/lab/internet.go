//go:build linux

package lab

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// internet is the labnet process (tests/lab/cmd/labnet) and the pipe that drives it.
type internet struct {
	cmd *exec.Cmd

	mu  sync.Mutex // one request at a time
	in  io.WriteCloser
	out *bufio.Reader
}

func startInternet(tb testing.TB, l *Lab, core string) *internet {
	tb.Helper()
	bin := Binary(tb, "lethe/tests/lab/cmd/labnet")
	logf, err := os.Create(filepath.Join(l.dir, "internet.log"))
	if err != nil {
		tb.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command("ip", "netns", "exec", core, bin, "internet")
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start the lab's internet: %v", err)
	}
	return &internet{cmd: cmd, in: in, out: bufio.NewReader(out)}
}

// request sends one request and returns its answer line.
func (in *internet) request(req any) (string, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if _, err := fmt.Fprintf(in.in, "%s\n", b); err != nil {
		return "", fmt.Errorf("the lab's internet is gone: %w", err)
	}
	line, err := in.out.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("the lab's internet is gone: %w", err)
	}
	line = strings.TrimSpace(line)
	if msg, ok := strings.CutPrefix(line, "error: "); ok {
		return "", fmt.Errorf("the lab's internet: %s", msg)
	}
	return line, nil
}

// attach makes the TUN device wan0 in the namespace and routes addrs to it, with the link's
// delay and loss on what the site sends.
func (in *internet) attach(name, ns string, addrs []netip.Addr, link Link) error {
	var as []string
	for _, a := range addrs {
		as = append(as, a.String())
	}
	_, err := in.request(map[string]any{"op": "site", "name": name, "netns": nsPath(ns), "tun": "wan0",
		"addrs": as, "delayMs": link.Delay.Seconds() * 1000, "loss": link.Loss})
	return err
}

// setLink changes a site's delay and loss.
func (in *internet) setLink(name string, link Link) error {
	_, err := in.request(map[string]any{"op": "link", "name": name, "delayMs": link.Delay.Seconds() * 1000, "loss": link.Loss})
	return err
}

// SiteStats are the internet's counters of one site, in packets: what it sent, what was
// delivered, lost to its link's loss, dropped for a full queue, or sent to an address no
// site has.
type SiteStats struct {
	Sent       int64 `json:"sent"`
	Delivered  int64 `json:"delivered"`
	Lost       int64 `json:"lost"`
	Overflow   int64 `json:"overflow"`
	Unroutable int64 `json:"unroutable"`
}

// minus is the counters since before.
func (s SiteStats) minus(before SiteStats) SiteStats {
	return SiteStats{s.Sent - before.Sent, s.Delivered - before.Delivered, s.Lost - before.Lost,
		s.Overflow - before.Overflow, s.Unroutable - before.Unroutable}
}

// Stats returns the internet's counters of every site, by site name.
func (l *Lab) Stats() (map[string]SiteStats, error) {
	line, err := l.internet.request(map[string]any{"op": "stats"})
	if err != nil {
		return nil, err
	}
	var st map[string]SiteStats
	return st, json.Unmarshal([]byte(line), &st)
}

func (in *internet) close() {
	in.in.Close() // labnet ends when its input does, and its TUN devices with it
	done := make(chan struct{})
	go func() { in.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		in.cmd.Process.Kill()
		<-done
	}
}
