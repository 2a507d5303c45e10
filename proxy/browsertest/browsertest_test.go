package browsertest

import (
	"bytes"
	"image"
	"image/png"
	"net"
	"strings"
	"testing"
	"time"

	"lethe/proxy/filter/filtertest"
)

// TestAttackSite checks the site a browser test opens: every page and other file it lists is
// in it, the index links every page, and every attack aims at the target, none at the
// placeholder host of the attack inputs.
func TestAttackSite(t *testing.T) {
	const target, images = "127.0.0.1:9", "CHK@images"
	site := AttackSite(target, images)
	if len(site.Pages) < len(filtertest.HTML) || site.Pages[0] != "/" {
		t.Fatalf("%d pages, the first %q: want / first and a page per HTML attack (%d)", len(site.Pages), site.Pages[0], len(filtertest.HTML))
	}
	index := string(site.Files["index.html"])
	for _, p := range append(append([]string(nil), site.Pages[1:]...), site.Others...) {
		name := strings.TrimPrefix(p, "/")
		if _, ok := site.Files[name]; !ok {
			t.Errorf("%s is listed but not in the site", p)
		}
		if strings.HasSuffix(name, ".html") && !strings.Contains(index, `"`+name+`"`) {
			t.Errorf("the index does not link %s", name)
		}
	}
	var aimed bool
	for name, b := range site.Files {
		if bytes.Contains(b, []byte(filtertest.Host)) {
			t.Errorf("%s still aims at %s", name, filtertest.Host)
		}
		aimed = aimed || bytes.Contains(b, []byte(target))
	}
	if !aimed {
		t.Errorf("no file aims at the target %s", target)
	}
}

// TestCheckScreenshot: a screenshot is a PNG 1200 pixels wide, 600 to 3000 tall, not blank.
func TestCheckScreenshot(t *testing.T) {
	// picture is a white image with, if drawn, a dark line of text-like dots every 20 rows.
	picture := func(w, h int, drawn bool) []byte {
		img := image.NewGray(image.Rect(0, 0, w, h))
		for i := range img.Pix {
			img.Pix[i] = 255
		}
		if drawn {
			for y := 10; y < h; y += 20 {
				for x := 0; x < w; x += 3 {
					img.Pix[y*img.Stride+x] = 30
				}
			}
		}
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	if err := checkScreenshot(picture(1200, 900, true)); err != nil {
		t.Errorf("a page-sized picture: %v", err)
	}
	for name, b := range map[string][]byte{
		"too narrow": picture(800, 900, true),
		"too short":  picture(1200, 300, true),
		"blank":      picture(1200, 900, false),
		"not a PNG":  []byte("<html>not an image</html>"),
	} {
		if err := checkScreenshot(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestCanary: a connection to the canary is recorded with the first line it sent.
func TestCanary(t *testing.T) {
	c := NewCanary(t)
	if got := c.Received(); len(got) != 0 {
		t.Fatalf("a new canary heard %v", got)
	}
	conn, err := net.Dial("tcp", c.Addr())
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("GET /leak HTTP/1.1\r\nHost: x\r\n\r\n"))
	conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for len(c.Received()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := c.Received(); len(got) != 1 || !strings.Contains(got[0], "GET /leak HTTP/1.1") {
		t.Errorf("the canary heard %v, want the one request", got)
	}
}
