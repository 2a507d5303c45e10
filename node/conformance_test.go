package node

// The conformance replay of docs/fcp-clients.md against a real node: the byte sequences that
// Freenet's Python client (pyFreenet's fcpput, fcpget, fcpgenkey and putdir) sends, over a
// plain TCP connection to a node of a test network, with the reply fields those clients
// read checked. Package fcp replays the same against an in-memory backend; this shows the
// node's backend answers them as the protocol says, over real inserts and fetches.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"lethe/crypto"
	"lethe/fcp"
)

// rawConn is a client connection that sends exact bytes and reads messages as they come.
type rawConn struct {
	tb testing.TB
	nc net.Conn
	r  *fcp.Reader
}

func dialRaw(tb testing.TB, addr string) *rawConn {
	tb.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { nc.Close() })
	return &rawConn{tb: tb, nc: nc, r: fcp.NewReader(bufio.NewReader(nc), 1<<30)}
}

func (c *rawConn) send(s string) {
	c.tb.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.tb.Fatal(err)
	}
}

// read returns the next message and its data.
func (c *rawConn) read() (*fcp.Message, []byte) {
	c.tb.Helper()
	c.nc.SetReadDeadline(time.Now().Add(2 * time.Minute))
	m, err := c.r.ReadMessage()
	if err != nil {
		c.tb.Fatalf("read: %v", err)
	}
	var data []byte
	if m.HasData {
		if data, err = io.ReadAll(c.r.Data()); err != nil {
			c.tb.Fatal(err)
		}
	}
	return m, data
}

// expect reads the next message, skipping the informational ones Freenet's clients ignore,
// and checks its name and that it carries the fields.
func (c *rawConn) expect(name string, fields ...string) (*fcp.Message, []byte) {
	c.tb.Helper()
	for {
		m, data := c.read()
		switch m.Name {
		case "SimpleProgress", "ExpectedMIME", "ExpectedDataLength", "SendingToNetwork":
			if name != m.Name {
				continue
			}
		}
		if m.Name != name {
			c.tb.Fatalf("got %s, want %s:\n%s", m.Name, name, m)
		}
		for _, f := range fields {
			if _, ok := m.Get(f); !ok {
				c.tb.Errorf("%s lacks the required field %s:\n%s", name, f, m)
			}
		}
		return m, data
	}
}

func wantValue(tb testing.TB, m *fcp.Message, key, want string) {
	tb.Helper()
	if got := m.Value(key); got != want {
		tb.Errorf("%s %s=%q, want %q", m.Name, key, got, want)
	}
}

const (
	pyHello       = "ClientHello\nName=id2367922368008539\nExpectedVersion=2.0\nEndMessage\n"
	pyGenerateSSK = "GenerateSSK\nIdentifier=id3120325956256922\nEndMessage\n"
)

func pyPut(id, contentType, data string) string {
	return "ClientPut\nPersistence=connection\nGlobal=false\nURI=CHK@\nMetadata.ContentType=" + contentType +
		"\nIdentifier=" + id + "\nVerbosity=0\nMaxRetries=-1\nPriorityClass=3\nRealTimeFlag=false\nGetCHKOnly=false\n" +
		"DontCompress=true\nCodecs=GZIP, BZIP2, LZMA, LZMA_NEW\nLocalRequestOnly=False\nUploadFrom=direct\nDataLength=" +
		strconv.Itoa(len(data)) + "\nData\n" + data
}

func pyGet(id, uri string) string {
	return "ClientGet\nPersistence=connection\nGlobal=false\nVerbosity=7\nReturnType=direct\nIdentifier=" + id +
		"\nIgnoreDS=false\nDSOnly=false\nURI=" + uri + "\nMaxRetries=-1\nMaxSize=1000000000000\nPriorityClass=3\n" +
		"RealTimeFlag=false\nEndMessage\n"
}

var (
	bareSSK  = regexp.MustCompile(`^SSK@[A-Za-z0-9~-]{43},[A-Za-z0-9~-]{43},[A-Za-z0-9~-]{7}/$`)
	chkShape = regexp.MustCompile(`^CHK@[A-Za-z0-9~-]{43},[A-Za-z0-9~-]{43},[A-Za-z0-9~-]{7}$`)
)

func TestConformanceReplayOnNode(t *testing.T) {
	tn := startTestnet(t, 12, nil)
	c := dialRaw(t, tn.Nodes[0].FCPAddr())

	// Handshake.
	c.send(pyHello)
	hello, _ := c.expect("NodeHello", "FCPVersion", "Version", "Build", "CompressionCodecs", "ConnectionIdentifier", "Testnet")
	wantValue(t, hello, "FCPVersion", "2.0")
	wantValue(t, hello, "Testnet", "true")
	if parts := strings.Split(hello.Value("Version"), ","); len(parts) < 4 || parts[1] != Version || parts[3] != strconv.Itoa(BuildNumber) {
		t.Errorf("Version %q is not Lethe,%s,2.0,%d", hello.Value("Version"), Version, BuildNumber)
	}
	wantValue(t, hello, "Build", strconv.Itoa(BuildNumber))
	if b := Build(); b.Revision != "" {
		wantValue(t, hello, "Revision", b.Revision)
	} else {
		wantValue(t, hello, "Revision", Version)
	}

	// Generate a key.
	c.send(pyGenerateSSK)
	kp, _ := c.expect("SSKKeypair", "InsertURI", "RequestURI", "Identifier")
	wantValue(t, kp, "Identifier", "id3120325956256922")
	for _, k := range []string{"InsertURI", "RequestURI"} {
		if !bareSSK.MatchString(kp.Value(k)) {
			t.Errorf("%s %q is not SSK@<43>,<43>,<7>/", k, kp.Value(k))
		}
	}

	// fcpput of 14 bytes, then fcpget of the URI at the node farthest away.
	const hello14 = "Hello, Lethe!\n"
	c.send(pyPut("id2943690444352725", "text/plain", hello14))
	gen, _ := c.expect("URIGenerated", "Identifier", "Global", "URI")
	ok, _ := c.expect("PutSuccessful", "Identifier", "Global", "URI", "StartupTime", "CompletionTime")
	wantValue(t, ok, "Identifier", "id2943690444352725")
	uri := ok.Value("URI")
	if !chkShape.MatchString(uri) || gen.Value("URI") != uri {
		t.Fatalf("PutSuccessful URI %q (URIGenerated %q) is not a bare CHK request URI", uri, gen.Value("URI"))
	}

	far := dialRaw(t, tn.Nodes[tn.Farthest(0)].FCPAddr())
	far.send(pyHello)
	far.expect("NodeHello")
	far.send(pyGet("id3556208220915880", uri))
	found, _ := far.expect("DataFound", "Identifier", "Global", "Metadata.ContentType", "DataLength", "StartupTime", "CompletionTime")
	wantValue(t, found, "Metadata.ContentType", "text/plain")
	wantValue(t, found, "DataLength", "14")
	all, data := far.expect("AllData", "DataLength", "Identifier", "Global", "StartupTime", "CompletionTime", "Metadata.ContentType")
	wantValue(t, all, "Identifier", "id3556208220915880")
	if string(data) != hello14 {
		t.Errorf("AllData carries %q, want %q", data, hello14)
	}

	// A key nobody inserted: GetFailed, not a hang.
	absent := crypto.RequestURI{Type: crypto.CHK, Key: [32]byte{1, 2, 3}, Crypto: [32]byte{4, 5, 6}}
	far.send(pyGet("id-absent", absent.String()))
	failed, _ := far.expect("GetFailed", "Code", "CodeDescription", "ShortCodeDescription", "Fatal", "Identifier", "Global")
	wantValue(t, failed, "Identifier", "id-absent")
	if code := failed.Value("Code"); code != "13" && code != "14" && code != "28" {
		t.Errorf("GetFailed Code=%s for an absent key, want 13 (or 14, 28)", code)
	}

	// A malformed message: ProtocolError with the Identifier, and the connection goes on.
	far.send("ClientGet\nIdentifier=id-malformed\nthis line has no equals sign\nURI=" + uri + "\nEndMessage\n")
	pe, _ := far.expect("ProtocolError", "Code", "CodeDescription", "Fatal", "Global", "Identifier")
	wantValue(t, pe, "Code", "3")
	wantValue(t, pe, "Identifier", "id-malformed")
	wantValue(t, pe, "Fatal", "false")

	// putdir with filebyfile=True (docs/fcp-clients.md §6a): each page as a ClientPut, then a
	// manifest of redirects under a USK; then freesitemgr's form (§6b) with direct data.
	pages := []struct{ name, body string }{
		{"b.html", "<html><body>b</body></html>\n"},
		{"index.html", "<html><body><a href=\"b.html\">b</a></body></html>\n"},
	}
	chks := make([]string, len(pages))
	for i, p := range pages {
		c.send(strings.Replace(pyPut("id19507139980257"+strconv.Itoa(i), "text/html", p.body), "PriorityClass=3", "PriorityClass=4", 1))
		c.expect("URIGenerated", "URI")
		m, _ := c.expect("PutSuccessful", "URI")
		chks[i] = m.Value("URI")
	}
	insert := "USK@" + strings.TrimPrefix(kp.Value("InsertURI"), "SSK@") + "mysite/0"
	c.send("ClientPutComplexDir\nIdentifier=id1950713998025701\nVerbosity=0\nMaxRetries=3\nPriorityClass=4\nURI=" + insert +
		"\nCodecs=GZIP, BZIP2, LZMA, LZMA_NEW\nPersistence=connection\nGlobal=false\nDefaultName=index.html\n" +
		"Files.0.Name=b.html\nFiles.0.UploadFrom=redirect\nFiles.0.TargetURI=" + chks[0] + "\n" +
		"Files.1.Name=index.html\nFiles.1.UploadFrom=redirect\nFiles.1.TargetURI=" + chks[1] + "\nEndMessage\n")
	c.expect("URIGenerated", "Identifier", "Global", "URI")
	site, _ := c.expect("PutSuccessful", "Identifier", "Global", "URI", "StartupTime", "CompletionTime")
	want := "USK@" + strings.TrimPrefix(kp.Value("RequestURI"), "SSK@") + "mysite/0"
	wantValue(t, site, "URI", want)
	far.send(pyGet("id-site", want+"/b.html"))
	far.expect("DataFound")
	if _, data := far.expect("AllData"); string(data) != pages[0].body {
		t.Errorf("b.html through the site at the far node: %q", data)
	}

	index := strings.Repeat("i", 40) + "<html></html" // 52 bytes
	b := "<b>b</b>\n"                                 // 9 bytes
	insert = "USK@" + strings.TrimPrefix(kp.Value("InsertURI"), "SSK@") + "site/0"
	c.send("ClientPutComplexDir\nIdentifier=freesitemgr|site|__manifest\nVerbosity=0\nMaxRetries=-1\nPriorityClass=4\nURI=" + insert +
		"\nPersistence=connection\nGlobal=false\nDefaultName=index.html\n" +
		"Files.0.Name=index.html\nFiles.0.UploadFrom=direct\nFiles.0.DataLength=52\nFiles.0.Metadata.ContentType=text/html\n" +
		"Files.1.Name=sitemap.html\nFiles.1.UploadFrom=redirect\nFiles.1.TargetURI=" + chks[0] + "\n" +
		"Files.2.Name=b.html\nFiles.2.UploadFrom=direct\nFiles.2.DataLength=9\nFiles.2.Metadata.ContentType=text/html\n" +
		"DataLength=61\nData\n" + index + b)
	c.expect("URIGenerated", "URI")
	site, _ = c.expect("PutSuccessful", "Identifier", "Global", "URI", "StartupTime", "CompletionTime")
	want = "USK@" + strings.TrimPrefix(kp.Value("RequestURI"), "SSK@") + "site/0"
	wantValue(t, site, "URI", want)
	for _, f := range []struct{ path, body string }{{"", index}, {"/b.html", b}, {"/sitemap.html", pages[0].body}} {
		far.send(pyGet("id-fetch"+f.path, want+f.path))
		far.expect("DataFound")
		if _, data := far.expect("AllData"); string(data) != f.body {
			t.Errorf("%s: got %q, want %q", want+f.path, data, f.body)
		}
	}
}

// TestConformanceRedirectOnNode: fcpredirect's redirect insert through one node of a test
// network, and a fetch of the redirect through the farthest node, which gets the content.
func TestConformanceRedirectOnNode(t *testing.T) {
	tn := startTestnet(t, 6, nil)
	c := dialRaw(t, tn.Nodes[0].FCPAddr())
	c.send(pyHello)
	c.expect("NodeHello")
	c.send(pyPut("id1", "text/plain", "the redirect's target\n"))
	c.expect("URIGenerated")
	chk, _ := c.expect("PutSuccessful", "URI")
	c.send("ClientPut\nPersistence=connection\nGlobal=false\nURI=KSK@lethe-redirect-on-node\nIdentifier=id2\n" +
		"Verbosity=0\nMaxRetries=-1\nPriorityClass=3\nRealTimeFlag=false\nGetCHKOnly=false\n" +
		"Codecs=GZIP, BZIP2, LZMA, LZMA_NEW\nLocalRequestOnly=False\nUploadFrom=redirect\nTargetURI=" + chk.Value("URI") + "\nEndMessage\n")
	c.expect("URIGenerated")
	done, _ := c.expect("PutSuccessful", "URI")
	wantValue(t, done, "URI", "KSK@lethe-redirect-on-node")

	far := dialRaw(t, tn.Nodes[tn.Farthest(0)].FCPAddr())
	far.send(pyHello)
	far.expect("NodeHello")
	far.send(pyGet("id3", "KSK@lethe-redirect-on-node"))
	found, _ := far.expect("DataFound", "Metadata.ContentType")
	wantValue(t, found, "Metadata.ContentType", "text/plain")
	_, data := far.expect("AllData")
	if string(data) != "the redirect's target\n" {
		t.Errorf("the redirect gave %q", data)
	}
}

// TestConformanceSubscribeUSKOnNode: a client of the farthest node subscribes to a site that
// node 0 inserts, and is told of edition 0 and then of edition 1, found in the network.
func TestConformanceSubscribeUSKOnNode(t *testing.T) {
	tn := startTestnet(t, 6, func(i int, c *Config) { c.USKPollInterval = 200 * time.Millisecond })
	c := dialRaw(t, tn.Nodes[0].FCPAddr())
	c.send(pyHello)
	c.expect("NodeHello")
	c.send(pyGenerateSSK)
	kp, _ := c.expect("SSKKeypair", "InsertURI", "RequestURI")
	insert := "USK@" + strings.TrimPrefix(kp.Value("InsertURI"), "SSK@") + "blog/"
	request := "USK@" + strings.TrimPrefix(kp.Value("RequestURI"), "SSK@") + "blog/"
	putEdition := func(n int) {
		t.Helper()
		page := fmt.Sprintf("<p>edition %d</p>", n)
		c.send(fmt.Sprintf("ClientPutComplexDir\nIdentifier=e%d\nURI=%s%d\nPersistence=connection\nGlobal=false\n"+
			"DefaultName=index.html\nFiles.0.Name=index.html\nFiles.0.UploadFrom=direct\nFiles.0.DataLength=%d\n"+
			"DataLength=%d\nData\n%s", n, insert, n, len(page), len(page), page))
		c.expect("URIGenerated")
		c.expect("PutSuccessful")
	}
	putEdition(0)

	far := dialRaw(t, tn.Nodes[tn.Farthest(0)].FCPAddr())
	far.send(pyHello)
	far.expect("NodeHello")
	far.send("SubscribeUSK\nURI=" + request + "0\nDontPoll=False\nIdentifier=sub\nEndMessage\n")
	far.expect("SubscribedUSK", "URI")
	nextUpdate := func() *fcp.Message {
		t.Helper()
		for {
			m, _ := far.read()
			if m.Name == "SubscribedUSKUpdate" {
				return m
			}
		}
	}
	wantValue(t, nextUpdate(), "Edition", "0")
	putEdition(1)
	u := nextUpdate()
	wantValue(t, u, "Edition", "1")
	wantValue(t, u, "URI", request+"1")
}

// TestConformanceDiskAccessOnNode: the TestDDA handshake with a running node, a file and a
// directory (ClientPutDiskDir) inserted from disk through it, and both fetched through the
// farthest node, the file into a directory there (ReturnType=disk).
func TestConformanceDiskAccessOnNode(t *testing.T) {
	tn := startTestnet(t, 6, nil)
	c := dialRaw(t, tn.Nodes[0].FCPAddr())
	c.send(pyHello)
	c.expect("NodeHello")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "big.bin"), randomBytes(200<<10, 7), 0o644)
	c.send("TestDDARequest\nDirectory=" + dir + "\nWantReadDirectory=True\nWantWriteDirectory=False\nIdentifier=__global\nEndMessage\n")
	reply, _ := c.expect("TestDDAReply", "ReadFilename")
	content, err := os.ReadFile(reply.Value("ReadFilename"))
	if err != nil {
		t.Fatal(err)
	}
	c.send("TestDDAResponse\nDirectory=" + dir + "\nReadFilename=" + reply.Value("ReadFilename") + "\nReadContent=" + string(content) + "\nIdentifier=__global\nEndMessage\n")
	done, _ := c.expect("TestDDAComplete", "ReadDirectoryAllowed")
	wantValue(t, done, "ReadDirectoryAllowed", "true")
	c.send("ClientPut\nURI=CHK@\nIdentifier=disk\nPersistence=connection\nGlobal=false\nUploadFrom=disk\nFilename=" +
		filepath.Join(dir, "big.bin") + "\nEndMessage\n")
	c.expect("URIGenerated")
	ok, _ := c.expect("PutSuccessful", "URI")

	far := dialRaw(t, tn.Nodes[tn.Farthest(0)].FCPAddr())
	far.send(pyHello)
	far.expect("NodeHello")
	far.send(pyGet("get", ok.Value("URI")))
	far.expect("DataFound")
	_, data := far.expect("AllData")
	if !bytes.Equal(data, randomBytes(200<<10, 7)) {
		t.Errorf("the file inserted from disk came back as %d other bytes", len(data))
	}

	// The same file fetched through the farthest node into a directory its client proved it
	// can write (ReturnType=disk).
	outDir := t.TempDir()
	far.send("TestDDARequest\nDirectory=" + outDir + "\nWantWriteDirectory=True\nIdentifier=__global\nEndMessage\n")
	w, _ := far.expect("TestDDAReply", "WriteFilename", "ContentToWrite")
	os.WriteFile(w.Value("WriteFilename"), []byte(w.Value("ContentToWrite")), 0o644)
	far.send("TestDDAResponse\nDirectory=" + outDir + "\nIdentifier=__global\nEndMessage\n")
	wd, _ := far.expect("TestDDAComplete", "WriteDirectoryAllowed")
	wantValue(t, wd, "WriteDirectoryAllowed", "true")
	out := filepath.Join(outDir, "big.bin")
	far.send(strings.Replace(pyGet("todisk", ok.Value("URI")), "ReturnType=direct\n", "ReturnType=disk\nFilename="+out+"\n", 1))
	far.expect("DataFound")
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, randomBytes(200<<10, 7)) {
		t.Errorf("the file fetched to disk: %d bytes, %v", len(got), err)
	}

	// A directory inside the proved one, inserted as a site with ClientPutDiskDir.
	site := map[string]string{"index.html": "<p>home</p>", "sub/b.html": "<p>b</p>"}
	for name, body := range site {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, "site", name)), 0o755)
		os.WriteFile(filepath.Join(dir, "site", name), []byte(body), 0o644)
	}
	c.send("ClientPutDiskDir\nIdentifier=diskdir\nURI=CHK@\nFilename=" + filepath.Join(dir, "site") +
		"\nDefaultName=index.html\nPersistence=connection\nGlobal=false\nVerbosity=0\nEndMessage\n")
	c.expect("URIGenerated")
	put, _ := c.expect("PutSuccessful", "URI")
	for name, body := range site {
		far.send(pyGet("get-"+name, put.Value("URI")+"/"+name))
		far.expect("DataFound")
		if _, data := far.expect("AllData"); string(data) != body {
			t.Errorf("%s of the site inserted from disk, at the far node: %q, want %q", name, data, body)
		}
	}
}
