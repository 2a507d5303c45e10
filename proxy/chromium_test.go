package proxy

// This file runs headless Chromium for the browser test and records, through the DevTools
// protocol (cdp_test.go), everything it does.

import (
	"bufio"
	"context"
	"encoding/base64"
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
)

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

// recorder keeps what the browser did, from the DevTools events of every target it attached.
type recorder struct {
	mu         sync.Mutex
	requests   []string                 // URL of every request, of every frame and worker
	documents  map[string]int           // status of each document loaded, by URL
	scripts    []string                 // scripts compiled: any at all means a page could run one
	console    []string                 // console messages, exceptions, dialogs
	violations []string                 // policy violations and other security messages
	targets    []string                 // frames and workers that were attached besides the page
	loaded     map[string]chan struct{} // each tab's load events, by session
}

func newRecorder() *recorder {
	return &recorder{documents: map[string]int{}, loaded: map[string]chan struct{}{}}
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests, r.scripts, r.console, r.violations, r.targets = nil, nil, nil, nil, nil
	r.documents = map[string]int{}
}

// record is a copy of what a recorder holds.
type record struct {
	requests, scripts, console, violations, targets []string
	documents                                       map[string]int
}

func (r *recorder) snapshot() record {
	r.mu.Lock()
	defer r.mu.Unlock()
	docs := make(map[string]int, len(r.documents))
	for k, v := range r.documents {
		docs[k] = v
	}
	return record{
		requests: append([]string(nil), r.requests...), scripts: append([]string(nil), r.scripts...),
		console: append([]string(nil), r.console...), violations: append([]string(nil), r.violations...),
		targets: append([]string(nil), r.targets...), documents: docs,
	}
}

func (r *recorder) add(list *[]string, s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*list = append(*list, s)
}

// event records one DevTools event; attach is called for every new target, to enable the
// same recording there before it runs.
func (r *recorder) event(m cdpMessage, attach func(session string)) {
	switch m.Method {
	case "Network.requestWillBeSent":
		var p struct {
			Request struct{ URL string } `json:"request"`
		}
		json.Unmarshal(m.Params, &p)
		r.add(&r.requests, p.Request.URL)
	case "Network.webSocketCreated":
		var p struct{ URL string }
		json.Unmarshal(m.Params, &p)
		r.add(&r.requests, p.URL)
	case "Network.responseReceived":
		var p struct {
			Type     string
			Response struct {
				URL    string
				Status int
			}
		}
		json.Unmarshal(m.Params, &p)
		if p.Type == "Document" {
			r.mu.Lock()
			r.documents[p.Response.URL] = p.Response.Status
			r.mu.Unlock()
		}
	case "Debugger.scriptParsed":
		var p struct {
			URL      string
			ScriptID string `json:"scriptId"`
			Length   int
		}
		json.Unmarshal(m.Params, &p)
		r.add(&r.scripts, fmt.Sprintf("script %s (%d chars) at %q", p.ScriptID, p.Length, p.URL))
	case "Runtime.consoleAPICalled", "Runtime.exceptionThrown", "Page.javascriptDialogOpening":
		r.add(&r.console, m.Method+" "+string(m.Params))
	case "Log.entryAdded":
		var p struct {
			Entry struct{ Source, Level, Text, URL string }
		}
		json.Unmarshal(m.Params, &p)
		if p.Entry.Source == "security" || strings.Contains(p.Entry.Text, "Content Security Policy") {
			r.add(&r.violations, p.Entry.Text)
		}
	case "Target.attachedToTarget":
		var p struct {
			SessionID  string `json:"sessionId"`
			TargetInfo struct{ Type, URL string }
		}
		json.Unmarshal(m.Params, &p)
		r.add(&r.targets, p.TargetInfo.Type+" "+p.TargetInfo.URL)
		go attach(p.SessionID)
	case "Page.loadEventFired":
		r.mu.Lock()
		ch := r.loaded[m.SessionID]
		r.mu.Unlock()
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// browser is a Chromium under DevTools control whose every request, script and console
// message is recorded, in all its tabs.
type browser struct {
	tb  testing.TB
	c   *cdp
	rec *recorder
	ctx context.Context
}

// tab is one page of the browser.
type tab struct {
	b       *browser
	session string
	loaded  chan struct{}
}

func newBrowser(tb testing.TB, ctx context.Context) *browser {
	tb.Helper()
	chrome := startChromium(tb, findChromium(tb))
	b := &browser{tb: tb, rec: newRecorder(), ctx: ctx}
	c, err := dialCDP(chrome.wsURL, func(m cdpMessage) { b.rec.event(m, b.instrument) })
	if err != nil {
		tb.Fatalf("devtools: %v", err)
	}
	b.c = c
	tb.Cleanup(c.close)
	if err := c.call(ctx, "", "Browser.setDownloadBehavior", map[string]any{"behavior": "deny"}, nil); err != nil {
		tb.Fatal(err)
	}
	return b
}

// newTab opens a page and records everything in it.
func (b *browser) newTab() *tab {
	b.tb.Helper()
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.c.call(b.ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		b.tb.Fatal(err)
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.c.call(b.ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached); err != nil {
		b.tb.Fatal(err)
	}
	t := &tab{b: b, session: attached.SessionID, loaded: make(chan struct{}, 16)}
	b.rec.mu.Lock()
	b.rec.loaded[t.session] = t.loaded
	b.rec.mu.Unlock()
	b.enable(t.session)
	t.call("Page.enable", nil, nil)
	t.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": 1200, "height": 900, "deviceScaleFactor": 1, "mobile": false}, nil)
	return t
}

// enable turns on recording in a session: requests, scripts, console and security logs, and
// the same for every frame or worker the target starts, which waits until it is recorded.
func (b *browser) enable(session string) {
	for _, m := range []struct {
		method string
		params any
	}{
		{"Network.enable", nil},
		{"Debugger.enable", nil},
		{"Runtime.enable", nil},
		{"Log.enable", nil},
		{"Target.setAutoAttach", map[string]any{"autoAttach": true, "waitForDebuggerOnStart": true, "flatten": true}},
	} {
		if err := b.c.call(b.ctx, session, m.method, m.params, nil); err != nil {
			b.tb.Errorf("enable %s: %v", m.method, err)
		}
	}
}

// instrument records in a target the page started (a frame, a worker), then lets it run.
func (b *browser) instrument(session string) {
	b.enable(session)
	b.c.call(b.ctx, session, "Runtime.runIfWaitingForDebugger", nil, nil)
}

func (t *tab) call(method string, params, result any) {
	t.b.tb.Helper()
	if err := t.b.c.call(t.b.ctx, t.session, method, params, result); err != nil {
		t.b.tb.Fatal(err)
	}
}

// open navigates the tab to url and waits for its load event, and a moment after it for
// whatever a page would do late.
func (t *tab) open(url string) error {
	for len(t.loaded) > 0 {
		<-t.loaded
	}
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := t.b.c.call(t.b.ctx, t.session, "Page.navigate", map[string]any{"url": url}, &nav); err != nil {
		return err
	}
	if nav.ErrorText != "" {
		return fmt.Errorf("%s: %s", url, nav.ErrorText)
	}
	select {
	case <-t.loaded:
	case <-time.After(15 * time.Second):
		return fmt.Errorf("%s: %w", url, errNoLoad)
	case <-t.b.ctx.Done():
		return t.b.ctx.Err()
	}
	time.Sleep(10 * time.Millisecond)
	return nil
}

// screenshot saves the whole page as a PNG.
func (t *tab) screenshot(path string) {
	t.b.tb.Helper()
	var metrics struct {
		CSSContentSize struct{ Width, Height float64 } `json:"cssContentSize"`
	}
	t.call("Page.getLayoutMetrics", nil, &metrics)
	h := min(max(metrics.CSSContentSize.Height, 600), 3000)
	var shot struct{ Data string }
	t.call("Page.captureScreenshot", map[string]any{
		"format": "png", "captureBeyondViewport": true,
		"clip": map[string]any{"x": 0, "y": 0, "width": 1200, "height": h, "scale": 1},
	}, &shot)
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil || len(png) < 1000 {
		t.b.tb.Fatalf("screenshot of %d bytes: %v", len(png), err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.b.tb.Fatal(err)
	}
}
