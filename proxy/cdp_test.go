package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// This file is a minimal client of the Chrome DevTools Protocol, enough for the browser test
// to drive headless Chromium and record what it does: every request it makes, in every
// frame and worker, every script it compiles, every console message and every policy
// violation.

// cdpMessage is one message of the protocol: a command, its answer, or an event.
type cdpMessage struct {
	ID        int64           `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

type cdp struct {
	ws      *websocket.Conn
	onEvent func(cdpMessage) // called in the reading goroutine, one event at a time

	mu      sync.Mutex
	next    int64
	pending map[int64]chan cdpMessage // guarded by mu
	err     error                     // why reading stopped; guarded by mu
	done    chan struct{}             // closed when reading stops
}

func dialCDP(url string, onEvent func(cdpMessage)) (*cdp, error) {
	cfg, err := websocket.NewConfig(url, "http://127.0.0.1")
	if err != nil {
		return nil, err
	}
	ws, err := websocket.DialConfig(cfg)
	if err != nil {
		return nil, err
	}
	ws.MaxPayloadBytes = 256 << 20 // screenshots
	c := &cdp{ws: ws, onEvent: onEvent, pending: map[int64]chan cdpMessage{}, done: make(chan struct{})}
	go c.read()
	return c, nil
}

func (c *cdp) read() {
	defer close(c.done)
	for {
		var m cdpMessage
		if err := websocket.JSON.Receive(c.ws, &m); err != nil {
			c.mu.Lock()
			c.err = err
			for _, ch := range c.pending {
				close(ch)
			}
			c.pending = nil
			c.mu.Unlock()
			return
		}
		if m.ID != 0 {
			c.mu.Lock()
			ch := c.pending[m.ID]
			delete(c.pending, m.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- m
			}
			continue
		}
		if c.onEvent != nil {
			c.onEvent(m)
		}
	}
}

// call sends a command (to the browser, or to a session when session is not empty) and
// decodes its result into result, if not nil.
func (c *cdp) call(ctx context.Context, session, method string, params, result any) error {
	if params == nil {
		params = struct{}{}
	}
	p, err := json.Marshal(params)
	if err != nil {
		return err
	}
	ch := make(chan cdpMessage, 1)
	c.mu.Lock()
	if c.pending == nil {
		err := c.err
		c.mu.Unlock()
		return fmt.Errorf("devtools: connection closed: %w", err)
	}
	c.next++
	id := c.next
	c.pending[id] = ch
	c.mu.Unlock()
	if err := websocket.JSON.Send(c.ws, cdpMessage{ID: id, Method: method, Params: p, SessionID: session}); err != nil {
		return fmt.Errorf("devtools: send %s: %w", method, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return fmt.Errorf("devtools: %s: connection closed", method)
		}
		if m.Error != nil {
			return fmt.Errorf("devtools: %s: %s (%d)", method, m.Error.Message, m.Error.Code)
		}
		if result != nil {
			return json.Unmarshal(m.Result, result)
		}
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return fmt.Errorf("devtools: %s: %w", method, ctx.Err())
	}
}

func (c *cdp) close() {
	c.ws.Close()
	<-c.done
}

// chromium is a headless Chromium run by a test.
type chromium struct {
	cmd   *exec.Cmd
	dir   string // its profile
	wsURL string
}

// chromiumFlags keep the browser to the test: headless, no background traffic of its own,
// no QUIC, a fresh profile, and a host resolver that resolves nothing but loopback, so that
// even a page that escaped the filter could not send a packet off this machine.
var chromiumFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--disable-default-apps", "--disable-extensions", "--disable-breakpad", "--mute-audio",
	"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
	"--remote-debugging-port=0", "--remote-allow-origins=http://127.0.0.1",
	"--window-size=1200,900",
}

// findChromium returns the path of Debian's chromium, installing it with apt-get if it is
// missing and the test runs as root. It skips the test, saying why, where it can do neither.
func findChromium(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Geteuid() != 0 {
		tb.Skip("chromium is not installed and the test does not run as root to install it: apt-get install -y chromium")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	for _, args := range [][]string{{"update", "-q"}, {"install", "-y", "-q", "chromium"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Skipf("chromium is not installed and apt-get %s failed (%v); install it with apt-get install -y chromium:\n%s",
				args[0], err, out[max(0, len(out)-2000):])
		}
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		tb.Skip("apt-get installed chromium, but it is not on PATH")
	}
	return p
}

// startChromium runs the browser and returns it once its DevTools endpoint is up.
func startChromium(tb testing.TB, bin string) *chromium {
	tb.Helper()
	dir := tb.TempDir()
	args := append(append([]string{}, chromiumFlags...), "--user-data-dir="+dir, "about:blank")
	cmd := exec.Command(bin, args...)
	stderr, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	// Its own process group, so that its helper processes (renderers, the zygote) end with
	// it before the test removes the profile.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start chromium: %v", err)
	}
	c := &chromium{cmd: cmd, dir: dir}
	tb.Cleanup(func() {
		pgid := cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGTERM)
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-exited
		}
		// Helpers may outlive the browser by a moment; the group is gone when no member is.
		for i := 0; i < 100 && syscall.Kill(-pgid, 0) == nil; i++ {
			time.Sleep(20 * time.Millisecond)
		}
		syscall.Kill(-pgid, syscall.SIGKILL)
		stderr.Close()
	})
	// Chromium writes its port and the browser's endpoint to DevToolsActivePort.
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "DevToolsActivePort"))
		if err == nil {
			sc := bufio.NewScanner(strings.NewReader(string(b)))
			var lines []string
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
			if len(lines) >= 2 {
				c.wsURL = "ws://127.0.0.1:" + lines[0] + lines[1]
				return c
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "stderr.log"))
			tb.Fatalf("chromium did not open its DevTools port within 30s:\n%s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var errNoLoad = errors.New("page did not finish loading")
