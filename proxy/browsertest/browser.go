package browsertest

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// ErrNoLoad: a page did not fire its load event within LoadTimeout.
var ErrNoLoad = errors.New("page did not finish loading")

const (
	// LoadTimeout is how long Tab.Open waits for a page's load event.
	LoadTimeout = 30 * time.Second
	// ScreenshotTimeout is how long Tab.Screenshot waits for the browser's picture.
	ScreenshotTimeout = time.Minute
)

// Browser is a headless Chromium under DevTools control whose every request, script,
// console message and policy violation is recorded, in all its tabs and in every frame and
// worker they start. It runs until the test ends.
type Browser struct {
	tb  testing.TB
	ctx context.Context
	c   *cdp
	rec *recorder
}

// Tab is one page of the browser.
type Tab struct {
	b       *Browser
	session string
	loaded  chan struct{}
}

// New starts a headless Chromium for the test (installing Debian's chromium with apt-get
// if it is missing and the test runs as root, skipping the test with the reason where it
// can do neither). Downloads are refused. ctx bounds every DevTools call.
func New(tb testing.TB, ctx context.Context) *Browser {
	tb.Helper()
	chrome := startChromium(tb, findChromium(tb))
	b := &Browser{tb: tb, rec: newRecorder(), ctx: ctx}
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

// Record returns a copy of what the browser has done since it started or since Reset.
func (b *Browser) Record() Record { return b.rec.snapshot() }

// Reset forgets what has been recorded.
func (b *Browser) Reset() { b.rec.reset() }

// NewTab opens a page, 1200×900 CSS pixels, and records everything in it.
func (b *Browser) NewTab() *Tab {
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
	t := &Tab{b: b, session: attached.SessionID, loaded: make(chan struct{}, 16)}
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
func (b *Browser) enable(session string) {
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
func (b *Browser) instrument(session string) {
	b.enable(session)
	b.c.call(b.ctx, session, "Runtime.runIfWaitingForDebugger", nil, nil)
}

func (t *Tab) call(method string, params, result any) {
	t.b.tb.Helper()
	if err := t.b.c.call(t.b.ctx, t.session, method, params, result); err != nil {
		t.b.tb.Fatal(err)
	}
}

// Open navigates the tab to url and waits for its load event, and a moment after it for
// whatever a page would do late.
func (t *Tab) Open(url string) error {
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
	if err := t.waitLoad(); err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	time.Sleep(10 * time.Millisecond)
	return nil
}

// waitLoad waits for the tab's next load event, at most LoadTimeout.
func (t *Tab) waitLoad() error {
	select {
	case <-t.loaded:
		return nil
	case <-time.After(LoadTimeout):
		return ErrNoLoad
	case <-t.b.ctx.Done():
		return t.b.ctx.Err()
	}
}

// Screenshot saves the page as a PNG, 1200 pixels wide and as tall as the page (600 to
// 3000 pixels), and fails the test unless the image decodes to that size.
func (t *Tab) Screenshot(path string) {
	t.b.tb.Helper()
	var metrics struct {
		CSSContentSize struct{ Width, Height float64 } `json:"cssContentSize"`
	}
	// Headless Chromium draws no frame for a tab in the background, and a capture of one
	// waits for a frame for ever: the tab comes to the front first.
	t.call("Page.bringToFront", nil, nil)
	t.call("Page.getLayoutMetrics", nil, &metrics)
	h := min(max(metrics.CSSContentSize.Height, 600), 3000)
	var shot struct{ Data string }
	ctx, cancel := context.WithTimeout(t.b.ctx, ScreenshotTimeout)
	defer cancel()
	err := t.b.c.call(ctx, t.session, "Page.captureScreenshot", map[string]any{
		"format": "png", "captureBeyondViewport": true,
		"clip": map[string]any{"x": 0, "y": 0, "width": 1200, "height": h, "scale": 1},
	}, &shot)
	if err != nil {
		t.b.tb.Fatalf("screenshot of %s: %v", path, err)
	}
	b, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		t.b.tb.Fatalf("screenshot: %v", err)
	}
	if err := checkScreenshot(b); err != nil {
		t.b.tb.Fatalf("screenshot of %s: %v", path, err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.b.tb.Fatal(err)
	}
}

// checkScreenshot reports whether b is a PNG of a page as Screenshot takes it: 1200 pixels
// wide, 600 to 3000 tall, and not blank — at least one pixel in a thousand differs from the
// top-left one, the page's background.
func checkScreenshot(b []byte) error {
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("not a PNG: %w", err)
	}
	r := img.Bounds()
	if r.Dx() != 1200 || r.Dy() < 600 || r.Dy() > 3000 {
		return fmt.Errorf("%d×%d pixels, want 1200 wide and 600 to 3000 tall", r.Dx(), r.Dy())
	}
	background := color.RGBAModel.Convert(img.At(r.Min.X, r.Min.Y))
	var drawn int
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)) != background {
				drawn++
			}
		}
	}
	if drawn*1000 < r.Dx()*r.Dy() {
		return fmt.Errorf("blank: %d of %d pixels differ from the background", drawn, r.Dx()*r.Dy())
	}
	return nil
}

// ProxyScreenshots opens the proxy's home and status pages (proxy is its URL,
// "http://127.0.0.1:8888") in the tab and saves a screenshot of each, proxy-home.png and
// proxy-status.png (the names in docs/screenshots), in every one of dirs, which it creates if
// need be. It returns the paths.
func (t *Tab) ProxyScreenshots(proxy string, dirs ...string) []string {
	t.b.tb.Helper()
	var paths []string
	for _, page := range []struct{ name, path string }{{"home", "/"}, {"status", "/status"}} {
		if err := t.Open(proxy + page.path); err != nil {
			t.b.tb.Fatal(err)
		}
		var shot []byte
		for i, dir := range dirs {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.b.tb.Fatal(err)
			}
			path := filepath.Join(dir, "proxy-"+page.name+".png")
			if i == 0 {
				t.Screenshot(path)
				b, err := os.ReadFile(path)
				if err != nil {
					t.b.tb.Fatal(err)
				}
				shot = b
			} else if err := os.WriteFile(path, shot, 0o644); err != nil {
				t.b.tb.Fatal(err)
			}
			paths = append(paths, path)
		}
	}
	return paths
}
