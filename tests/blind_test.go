package tests

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/insert"
	"lethe/node"
)

// wireRecorder is a TCP relay on loopback that records every byte it passes, each direction
// of each connection in its own file: what a tap on the links between nodes sees.
type wireRecorder struct {
	dir   string
	total atomic.Int64

	mu    sync.Mutex
	lns   []net.Listener
	conns []net.Conn // guarded by mu
	seq   int        // guarded by mu
	wg    sync.WaitGroup
}

func newWireRecorder(tb testing.TB) *wireRecorder {
	tb.Helper()
	r := &wireRecorder{dir: tb.TempDir()}
	tb.Cleanup(r.close)
	return r
}

// relay listens on a new loopback port and passes each connection on to target.
func (r *wireRecorder) relay(tb testing.TB, target string) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r.mu.Lock()
	r.lns = append(r.lns, ln)
	r.mu.Unlock()
	r.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.pass(c, target)
		}
	})
	return ln.Addr().String()
}

func (r *wireRecorder) pass(in net.Conn, target string) {
	out, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		in.Close()
		return
	}
	r.mu.Lock()
	r.seq++
	id := r.seq
	r.conns = append(r.conns, in, out)
	r.mu.Unlock()
	for dir, ends := range [][2]net.Conn{{in, out}, {out, in}} {
		f, err := os.Create(filepath.Join(r.dir, fmt.Sprintf("conn-%04d-%d", id, dir)))
		if err != nil {
			in.Close()
			out.Close()
			return
		}
		r.wg.Go(func() {
			defer f.Close()
			n, _ := io.Copy(io.MultiWriter(ends[1], f), ends[0])
			r.total.Add(n)
			ends[0].Close()
			ends[1].Close()
		})
	}
}

func (r *wireRecorder) close() {
	r.mu.Lock()
	for _, ln := range r.lns {
		ln.Close()
	}
	for _, c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// needle is something that must not be found, and what it is.
type needle struct {
	what string
	b    []byte
}

// scanTree looks for every needle in every regular file under root (bbolt files, status,
// queues, captured bytes alike) and returns, per needle, the files holding it, and the bytes
// scanned. Files are read in chunks overlapping by the longest needle.
func scanTree(tb testing.TB, root string, needles []needle) (map[string][]string, int64) {
	tb.Helper()
	m := newMatcher(tb, needles)
	found := map[string][]string{}
	var scanned int64
	const chunk = 4 << 20
	buf := make([]byte, chunk+m.longest)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		keep := 0 // bytes carried over from the last chunk
		for {
			n, err := io.ReadFull(f, buf[keep:])
			window := buf[:keep+n]
			scanned += int64(n)
			m.find(window, func(nd *needle) {
				if !slices.Contains(found[nd.what], path) {
					found[nd.what] = append(found[nd.what], path)
				}
			})
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil
			}
			if err != nil {
				return err
			}
			keep = min(m.longest-1, len(window))
			copy(buf, window[len(window)-keep:])
		}
	})
	if err != nil {
		tb.Fatalf("scan %s: %v", root, err)
	}
	return found, scanned
}

// matcher finds many needles in one pass (Rabin–Karp): a rolling hash of the last
// prefixLen bytes is looked up in a bit table of the needles' prefixes, and only a hit is
// compared in full. One pass over the data, whatever the number of needles.
type matcher struct {
	needles []needle
	byHash  map[uint64][]int
	table   []uint64 // bit table of prefix hashes
	longest int
	pow     uint64 // hashBase^prefixLen
}

const (
	prefixLen = 16
	hashBase  = 0x100000001b3
	tableBits = 22
)

func newMatcher(tb testing.TB, needles []needle) *matcher {
	tb.Helper()
	m := &matcher{needles: needles, byHash: map[uint64][]int{}, table: make([]uint64, 1<<tableBits/64), pow: 1}
	for range prefixLen {
		m.pow *= hashBase
	}
	for i, nd := range needles {
		if len(nd.b) < prefixLen {
			tb.Fatalf("needle %q is shorter than %d bytes", nd.what, prefixLen)
		}
		var h uint64
		for _, c := range nd.b[:prefixLen] {
			h = h*hashBase + uint64(c)
		}
		m.byHash[h] = append(m.byHash[h], i)
		m.table[slot(h)/64] |= 1 << (slot(h) % 64)
		m.longest = max(m.longest, len(nd.b))
	}
	return m
}

func slot(h uint64) uint64 { return (h * 0x9e3779b97f4a7c15) >> (64 - tableBits) }

// find calls hit for each needle found in b, once per place. It reads only memory no other
// goroutine touches, so the race detector is told to leave its loop alone: instrumented, it
// would take minutes over the directories.
//
//go:norace
func (m *matcher) find(b []byte, hit func(*needle)) {
	if len(b) < prefixLen {
		return
	}
	var h uint64
	for _, c := range b[:prefixLen] {
		h = h*hashBase + uint64(c)
	}
	for i := 0; ; i++ {
		if s := slot(h); m.table[s/64]&(1<<(s%64)) != 0 {
			for _, j := range m.byHash[h] {
				if bytes.HasPrefix(b[i:], m.needles[j].b) {
					hit(&m.needles[j])
				}
			}
		}
		if i+prefixLen == len(b) {
			return
		}
		h = h*hashBase + uint64(b[i+prefixLen]) - m.pow*uint64(b[i])
	}
}

var keyText = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789~-").WithPadding(base64.NoPadding)

// keyNeedles are a key's forms: raw, in a URI's text, in hex.
func keyNeedles(what string, k [crypto.KeySize]byte) []needle {
	return []needle{
		{what + " (raw)", k[:]},
		{what + " (text)", []byte(keyText.EncodeToString(k[:]))},
		{what + " (hex)", []byte(hex.EncodeToString(k[:]))},
	}
}

// uriNeedles are a URI's text and the keys in it.
func uriNeedles(what string, u crypto.RequestURI) []needle {
	ns := []needle{{what + " URI", []byte(u.String())}}
	ns = append(ns, keyNeedles(what+" routing key or public-key hash", u.Key)...)
	if rk, err := u.RoutingKey(); err == nil && rk != u.Key {
		ns = append(ns, keyNeedles(what+" routing key", rk)...)
	}
	return append(ns, keyNeedles(what+" crypto key", u.Crypto)...)
}

// contentNeedles are a file's marker and windows of it drawn at random.
func contentNeedles(what string, data, marker []byte, r *rand.Rand) []needle {
	ns := []needle{{what + " marker", marker}}
	for i := range 8 {
		off := r.IntN(len(data) - 32)
		ns = append(ns, needle{fmt.Sprintf("%s bytes %d–%d (window %d)", what, off, off+32, i), data[off : off+32]})
	}
	return ns
}

// markedFile is size bytes that do not compress, with a marker sequence at its start, its
// middle and its end, so that it shows in plaintext wherever it is.
func markedFile(size int, seed byte, marker []byte) []byte {
	b := randomBytes(size, seed)
	copy(b, marker)
	copy(b[size/2:], marker)
	copy(b[size-len(marker):], marker)
	return b
}

// TestOperatorBlindness carries known files and a site across a test network whose links
// all pass through a recording relay, then looks for them, byte for byte, in every file of
// every node's data directory (stores, status, client queues) and in every byte that
// crossed a link: the files' plaintext (a marker and sampled windows), their names, their
// URIs and the keys in them, and the site's private insert key. None may be found (spec §8,
// SECURITY.md: the operator and the passive observer). The node's own user's FCP requests
// here are Persistence=connection; `forever` requests are kept in fcp/ in the clear, as
// SECURITY.md says, and are not used. LETHE_LONG=1 carries 24 MiB instead of 1.6 MiB.
func TestOperatorBlindness(t *testing.T) {
	sizes := []int{40 << 10, 300 << 10, 1200 << 10, 3 << 10}
	if long() {
		sizes = []int{40 << 10, 300 << 10, 4 << 20, 3 << 10, 20 << 20}
	}
	const nodes = 6
	rec := newWireRecorder(t)
	var listen, relay [nodes]string
	for i := range nodes {
		listen[i] = freePort(t)
		relay[i] = rec.relay(t, listen[i])
	}
	logs := t.TempDir() // every node's log, at the debug level
	tn, _ := startTestnet(t, nodes, func(i int, c *node.Config) {
		// Every node dials this one at the address its noderef gives: the relay's.
		c.ListenAddr, c.Addresses = listen[i], []string{relay[i]}
		f, err := os.Create(filepath.Join(logs, fmt.Sprintf("node-%02d.log", i)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		c.Logger = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	for _, n := range tn.Nodes {
		if len(n.Status().Peers) == 0 {
			t.Fatal("a node has no peers")
		}
	}

	r := rand.New(rand.NewPCG(11, 12))
	secret := func(what string) []byte { return fmt.Appendf(nil, "lethe-blind-%s-%016x", what, r.Uint64()) }
	var needles []needle
	in, out := client(t, tn.Nodes[0]), client(t, tn.Nodes[tn.Farthest(0)])
	var carried int
	var files []crypto.RequestURI
	for i, size := range sizes {
		marker := secret(fmt.Sprintf("marker-%d", i))
		data := markedFile(size, byte(40+i), marker)
		name := string(secret(fmt.Sprintf("name-%d", i))) + ".txt"
		uri := putFile(t, in, data, name)
		var got bytes.Buffer
		getFile(t, out, uri, &got)
		if !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("file %d did not come back whole", i)
		}
		what := fmt.Sprintf("file %d", i)
		needles = append(needles, contentNeedles(what, data, marker, r)...)
		needles = append(needles, needle{what + " name", []byte(name)})
		needles = append(needles, uriNeedles(what, uri)...)
		files = append(files, uri)
		carried += size
	}

	// A site under a USK: its page, its file names, its keys.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	site, _, err := in.GenerateSSK(ctx)
	if err != nil {
		t.Fatal(err)
	}
	site.Type, site.Site = crypto.USK, string(secret("site"))
	page, pageName := string(secret("page"))+" is the only thing on this page", string(secret("pagename"))+".html"
	siteURI := putSite(t, in, site, map[string]string{pageName: page, "index.html": "<a href=\"" + pageName + "\">in</a>"})
	var got bytes.Buffer
	getFile(t, out, siteURI.WithPath("/"+pageName), &got)
	if got.String() != page {
		t.Fatalf("the site's page came back as %q", got.String())
	}
	needles = append(needles, needle{"site page", []byte(page)}, needle{"site page name", []byte(pageName)}, needle{"site name", []byte(site.Site)})
	needles = append(needles, uriNeedles("site", siteURI)...)
	needles = append(needles, needle{"site insert URI", []byte(site.String())})
	needles = append(needles, keyNeedles("site private seed", site.Seed)...)
	carried += len(page)

	// The user opens the files and the site in a browser through node 0's proxy, a page the
	// site does not have, and a key the network does not hold (what the node logs of it is
	// scanned below).
	missing := string(secret("missing")) + ".html"
	absent := mustParse(t, "CHK@"+keyText.EncodeToString(randomBytes(32, 5))+","+keyText.EncodeToString(randomBytes(32, 6))+",AQABAQA/"+string(secret("absent"))+".txt")
	absentSite := mustParse(t, "USK@"+keyText.EncodeToString(randomBytes(32, 7))+","+keyText.EncodeToString(randomBytes(32, 8))+",AQACAQA/"+string(secret("absent-site"))+"/0/")
	browse(t, tn.Nodes[0], append(files, siteURI.WithPath("/"+pageName), siteURI.WithPath("/"+missing), absent, absentSite))
	needles = append(needles, needle{"name of a page the site does not have", []byte(missing)}, needle{"name of a file the network does not hold", []byte(absent.Path[1:])},
		needle{"name of a site the network does not hold", []byte(absentSite.Site)})
	needles = append(needles, uriNeedles("a key the network does not hold", absent)...)
	needles = append(needles, uriNeedles("a site the network does not hold", absentSite)...)

	// A page that stops part-way: its first parts are in the network, its middle ones not,
	// so the proxy has sent the first bytes when the fetch fails (the case that once logged
	// the URI at INFO).
	needles = append(needles, stoppedPage(t, tn.Nodes[0], r, secret)...)

	// A site uploaded through node 0's proxy and interrupted half-way: while its files are
	// spooled, and after the browser gave up, node 0's data directory must show none of
	// them; nor may what a crash at that moment would leave (a copy of the directory then).
	upload := uploadInterrupted(t, tn.Nodes[0], r, secret)
	needles = append(needles, upload.needles...)

	// The scanner finds what is there: every needle, planted in a control file of several
	// chunks at random places, is found.
	control := filepath.Join(t.TempDir(), "control")
	plant := randomBytes(9<<20, 99)
	for _, nd := range needles {
		copy(plant[r.IntN(len(plant)-len(nd.b)):], nd.b)
	}
	if err := os.WriteFile(control, plant, 0o600); err != nil {
		t.Fatal(err)
	}
	if found, _ := scanTree(t, filepath.Dir(control), needles); len(found) != len(needles) {
		t.Fatalf("the scanner found %d of the %d needles planted in a control file", len(found), len(needles))
	}

	report := func(where string, found map[string][]string) {
		whats := make([]string, 0, len(found))
		for w := range found {
			whats = append(whats, w)
		}
		sort.Strings(whats)
		for _, w := range whats {
			t.Errorf("%s: %s found in %q", where, w, found[w])
		}
	}
	found, _ := scanTree(t, upload.during, needles)
	report("node 0's data directory while a site was uploaded through its proxy (as a crash would leave it)", found)
	// While the nodes run (status files, queues, stores mid-life) and after they stop.
	start := time.Now()
	found, dirBytes := scanTree(t, tn.Dir, needles)
	report("data directories of running nodes", found)
	if err := tn.Close(); err != nil {
		t.Fatal(err)
	}
	found, stopped := scanTree(t, tn.Dir, needles)
	report("data directories of stopped nodes", found)
	rec.close()
	found, wire := scanTree(t, rec.dir, needles)
	report("bytes on the links", found)
	found, logged := scanTree(t, logs, needles)
	report("the nodes' logs at the debug level", found)
	if logged == 0 {
		t.Fatal("the nodes logged nothing")
	}
	if log0, err := os.ReadFile(filepath.Join(logs, "node-00.log")); err != nil || !bytes.Contains(log0, []byte("stopped part-way")) {
		t.Errorf("node 0's log does not record the page that stopped part-way (%v): the scan did not cover it", err)
	}
	if wire < int64(carried) {
		t.Fatalf("the relays saw %d bytes, less than the %d carried: the links did not pass through them", wire, carried)
	}
	t.Logf("%d needles from %d files and a site (%.1f MiB) not found in %.1f MiB of data directories (running) and %.1f MiB (stopped), nor in %.1f MiB of link bytes, nor in %.1f KiB of debug logs; scanned in %v",
		len(needles), len(sizes), float64(carried)/(1<<20), float64(dirBytes)/(1<<20), float64(stopped)/(1<<20), float64(wire)/(1<<20), float64(logged)/(1<<10), time.Since(start).Round(time.Millisecond))
}

// interruptedUpload is what uploadInterrupted leaves for the scan: the needles of the files it
// uploaded, and a copy of the node's data directory made while they were spooled.
type interruptedUpload struct {
	needles []needle
	during  string
}

var formToken = regexp.MustCompile(`name="token" value="([^"]+)"`)

// uploadInterrupted sends the insert form of n's proxy a site of two files, the first whole
// and the second half, waits until the proxy has spooled the first, copies n's data
// directory, and then breaks the upload off, as a browser closed mid-way would.
func uploadInterrupted(t *testing.T, n *node.Node, r *rand.Rand, secret func(string) []byte) interruptedUpload {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: time.Minute}
	base := "http://" + n.ProxyAddr()
	get, err := http.NewRequest(http.MethodGet, base+"/insert", nil)
	if err != nil {
		t.Fatal(err)
	}
	get.Header.Set("Sec-Fetch-Site", "none")
	resp, err := browser.Do(get)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := formToken.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no token on the insert page:\n%s", page)
	}

	var up interruptedUpload
	var files [2][]byte
	var names [2]string
	for i := range files {
		marker := secret(fmt.Sprintf("upload-marker-%d", i))
		files[i] = markedFile(400<<10, byte(70+i), marker)
		names[i] = string(secret(fmt.Sprintf("upload-name-%d", i))) + ".html"
		up.needles = append(up.needles, contentNeedles(fmt.Sprintf("uploaded file %d", i), files[i][:200<<10], marker, r)...)
		up.needles = append(up.needles, needle{fmt.Sprintf("uploaded file %d name", i), []byte(names[i])})
	}
	proxyDir := filepath.Join(n.Dir(), "proxy")
	before := spooledBytes(proxyDir)
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	post, err := http.NewRequest(http.MethodPost, base+"/insert", pr)
	if err != nil {
		t.Fatal(err)
	}
	post.Header.Set("Content-Type", mw.FormDataContentType())
	post.Header.Set("Sec-Fetch-Site", "same-origin")
	done := make(chan error, 1)
	go func() {
		resp, err := browser.Do(post)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	go func() {
		for _, f := range [][2]string{{"token", string(m[1])}, {"what", "site"}, {"target", "chk"}} {
			mw.WriteField(f[0], f[1])
		}
		w, _ := mw.CreateFormFile("files", names[0])
		w.Write(files[0])
		w, _ = mw.CreateFormFile("files", names[1])
		w.Write(files[1][:len(files[1])/2]) // and no more: the upload stops here
	}()
	deadline := time.Now().Add(time.Minute)
	for spooledBytes(proxyDir)-before < int64(len(files[0])) {
		if time.Now().After(deadline) {
			t.Fatalf("the proxy spooled %d bytes of a %d-byte file in a minute", spooledBytes(proxyDir)-before, len(files[0]))
		}
		time.Sleep(10 * time.Millisecond)
	}
	up.during = t.TempDir()
	if err := os.CopyFS(up.during, os.DirFS(n.Dir())); err != nil {
		t.Fatal(err)
	}
	pw.CloseWithError(errors.New("the browser was closed"))
	<-done
	for time.Now().Before(deadline) && spooledBytes(proxyDir) > before {
		time.Sleep(10 * time.Millisecond)
	}
	if b := spooledBytes(proxyDir) - before; b > 0 {
		t.Errorf("%d bytes still spooled after the upload was broken off", b)
	}
	return up
}

// spooledBytes is the size of the files under dir.
func spooledBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// recordedBlocks is a BlockPutter that keeps the blocks an insert makes, in the order it
// hands them over.
type recordedBlocks struct {
	mu     sync.Mutex
	blocks []recordedBlock // guarded by mu
}

type recordedBlock struct {
	kt    crypto.KeyType
	rk    crypto.RoutingKey
	block []byte
}

func (r *recordedBlocks) PutBlock(_ context.Context, kt crypto.KeyType, rk crypto.RoutingKey, block []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.blocks = append(r.blocks, recordedBlock{kt, rk, bytes.Clone(block)})
	return nil
}

// stoppedPage opens through n's proxy, as the user would, a text file of eight parts whose
// middle parts the network does not hold: the file is inserted block by block from n's
// router, all but the blocks of the middle of the insert (the insert hands over each part's
// blocks, then its top block, part after part, and the parts' list last). The answer must
// begin and then break off. It returns the needles of the file.
func stoppedPage(t *testing.T, n *node.Node, r *rand.Rand, secret func(string) []byte) []needle {
	t.Helper()
	marker := secret("stopped-marker")
	var text bytes.Buffer
	for text.Len() < 512<<10 {
		fmt.Fprintf(&text, "%s %016x\n", marker, r.Uint64())
	}
	data := text.Bytes()
	rec := &recordedBlocks{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	uri, err := insert.File(ctx, rec, crypto.InsertURI{Type: crypto.CHK}, bytes.NewReader(data),
		insert.Config{MIMEType: "text/plain", Compression: insert.CompressNever, PartBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	// The first 30% and the last 30%: the middle 40% (whole parts) the network never gets.
	first, last := rec.blocks[:len(rec.blocks)*3/10], rec.blocks[len(rec.blocks)*7/10:]
	for _, b := range slices.Concat(first, last) {
		if err := n.Router().PutBlock(ctx, b.kt, b.rk, b.block); err != nil {
			t.Fatalf("insert a block of the page that stops: %v", err)
		}
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+n.ProxyAddr()+"/"+uri.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Sec-Fetch-Site", "none")
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("open the page that stops part-way: %v", err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err == nil || len(got) == 0 || len(got) >= len(data) {
		t.Fatalf("the page that stops part-way: %d, %d of %d bytes, %v; want the first bytes and then a broken connection", resp.StatusCode, len(got), len(data), err)
	}
	ns := append(uriNeedles("page that stops part-way", uri), needle{"page that stops part-way marker", marker})
	return append(ns, needle{"page that stops part-way, a line", data[len(data)/2 : len(data)/2+48]})
}

// browse opens each URI through n's proxy as the user would (an address typed into a tab),
// whatever the answer.
func browse(t *testing.T, n *node.Node, uris []crypto.RequestURI) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Minute}
	for _, u := range uris {
		req, err := http.NewRequest(http.MethodGet, "http://"+n.ProxyAddr()+"/"+u.String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Sec-Fetch-Site", "none")
		req.Header.Set("Sec-Fetch-Mode", "navigate")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("open %v through the proxy: %v", u.LogValue(), err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

func mustParse(tb testing.TB, s string) crypto.RequestURI {
	tb.Helper()
	u, err := crypto.ParseURI(s)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}
