package fcp

// The conformance tests replay, byte for byte, what Freenet's Python client (pyFreenet's fcp3
// library and its fcpput, fcpget, fcpgenkey and freesitemgr scripts) sends, as written down in
// docs/fcp-clients.md and spec §16, and check every reply field those clients read. Where a
// sequence uses a key the node handed out earlier (an SSK pair, a CHK), the test puts that
// key in, as the client would.

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// What the scripts send, exactly.
const (
	pyHello       = "ClientHello\nName=id2367922368008539\nExpectedVersion=2.0\nEndMessage\n"
	pyGenerateSSK = "GenerateSSK\nIdentifier=id3120325956256922\nEndMessage\n"
	helloText     = "Hello, Lethe!\n" // 14 bytes, as in docs/fcp-clients.md §4
)

// pyPut is fcpput's ClientPut for 14 bytes of text/plain (docs/fcp-clients.md §4).
func pyPut(id, data string) string {
	return "ClientPut\n" +
		"Persistence=connection\n" +
		"Global=false\n" +
		"URI=CHK@\n" +
		"Metadata.ContentType=text/plain\n" +
		"Identifier=" + id + "\n" +
		"Verbosity=0\n" +
		"MaxRetries=-1\n" +
		"PriorityClass=3\n" +
		"RealTimeFlag=false\n" +
		"GetCHKOnly=false\n" +
		"DontCompress=true\n" +
		"Codecs=GZIP, BZIP2, LZMA, LZMA_NEW\n" +
		"LocalRequestOnly=False\n" +
		"UploadFrom=direct\n" +
		"DataLength=" + strconv.Itoa(len(data)) + "\n" +
		"Data\n" + data
}

// pyGet is fcpget's ClientGet (docs/fcp-clients.md §5).
func pyGet(id, uri string) string {
	return "ClientGet\n" +
		"Persistence=connection\n" +
		"Global=false\n" +
		"Verbosity=7\n" +
		"ReturnType=direct\n" +
		"Identifier=" + id + "\n" +
		"IgnoreDS=false\n" +
		"DSOnly=false\n" +
		"URI=" + uri + "\n" +
		"MaxRetries=-1\n" +
		"MaxSize=1000000000000\n" +
		"PriorityClass=3\n" +
		"RealTimeFlag=false\n" +
		"EndMessage\n"
}

// sitePut is the ClientPut pyFreenet's putdir sends for each file of a site (§6a).
func sitePut(id, data string) string {
	return "ClientPut\n" +
		"URI=CHK@\n" +
		"Metadata.ContentType=text/html\n" +
		"Identifier=" + id + "\n" +
		"Verbosity=0\n" +
		"MaxRetries=3\n" +
		"PriorityClass=4\n" +
		"Persistence=connection\n" +
		"Global=false\n" +
		"Codecs=GZIP, BZIP2, LZMA, LZMA_NEW\n" +
		"UploadFrom=direct\n" +
		"DataLength=" + strconv.Itoa(len(data)) + "\n" +
		"Data\n" + data
}

var (
	// Freenet's clients split CompressionCodecs as "<count> - NAME(num), NAME(num), …".
	codecsShape = regexp.MustCompile(`^(\d+) - ([A-Z0-9_]+\(\d+\))(, [A-Z0-9_]+\(\d+\))*$`)
	// SSK@<43 chars>,<43 chars>,<7 chars>/ in the URL-safe alphabet (docs/fcp-clients.md §3).
	bareSSKShape = regexp.MustCompile(`^SSK@[A-Za-z0-9~-]{43},[A-Za-z0-9~-]{43},[A-Za-z0-9~-]{7}/$`)
	chkShape     = regexp.MustCompile(`^CHK@[A-Za-z0-9~-]{43},[A-Za-z0-9~-]{43},[A-Za-z0-9~-]{7}(/.*)?$`)
)

func TestConformanceHello(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dialRaw(t, addr)
	hello := c.hello()
	wantField(t, hello, "FCPVersion", "2.0")
	wantField(t, hello, "NodeLanguage", "ENGLISH")
	wantField(t, hello, "Testnet", "false")
	parts := strings.Split(hello.fields["Version"], ",")
	if len(parts) < 4 {
		t.Errorf("Version %q has fewer than 4 comma-separated parts", hello.fields["Version"])
	} else if _, err := strconv.Atoi(parts[3]); err != nil {
		t.Errorf("Version %q: part 4 is not the build number", hello.fields["Version"])
	}
	if _, err := strconv.Atoi(hello.fields["Build"]); err != nil {
		t.Errorf("Build %q is not an integer", hello.fields["Build"])
	}
	codecs := codecsShape.FindStringSubmatch(hello.fields["CompressionCodecs"])
	if codecs == nil {
		t.Fatalf("CompressionCodecs %q is not in the form <count> - NAME(num), …", hello.fields["CompressionCodecs"])
	}
	if n, _ := strconv.Atoi(codecs[1]); n != strings.Count(hello.fields["CompressionCodecs"], "(") {
		t.Errorf("CompressionCodecs %q: the count does not match the list", hello.fields["CompressionCodecs"])
	}
	if hello.fields["ConnectionIdentifier"] == "" {
		t.Error("ConnectionIdentifier is empty")
	}

	// A second ClientHello is refused but the connection stays.
	c.send(pyHello)
	pe := c.expect("ProtocolError", "Code", "CodeDescription", "Fatal", "Global")
	wantField(t, pe, "Code", "2")
	wantField(t, pe, "Fatal", "false")
	c.send(pyGenerateSSK)
	c.expect("SSKKeypair")
}

func TestConformanceHelloMustBeFirst(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dialRaw(t, addr)
	c.send(pyGenerateSSK)
	pe := c.expect("ProtocolError", "Code", "CodeDescription", "Fatal", "Global", "Identifier")
	wantField(t, pe, "Code", "1")
	wantField(t, pe, "Fatal", "true")
	wantField(t, pe, "Identifier", "id3120325956256922")
	c.expectClosed()
}

func TestConformanceGenerateSSK(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dialRaw(t, addr)
	c.hello()
	c.send(pyGenerateSSK)
	kp := c.expect("SSKKeypair", "InsertURI", "RequestURI", "Identifier")
	wantField(t, kp, "Identifier", "id3120325956256922")
	for _, k := range []string{"InsertURI", "RequestURI"} {
		if !bareSSKShape.MatchString(kp.fields[k]) {
			t.Errorf("%s %q is not SSK@<43>,<43>,<7>/", k, kp.fields[k])
		}
	}
	if kp.fields["InsertURI"] == kp.fields["RequestURI"] {
		t.Error("InsertURI and RequestURI are the same")
	}
}

// TestConformancePutGet is fcpput then fcpget, then the failures a client must be able to
// read: a get of an absent key, a malformed message, an unknown message.
func TestConformancePutGet(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dialRaw(t, addr)
	c.hello()

	c.send(pyPut("id2943690444352725", helloText))
	gen := c.expect("URIGenerated", "Identifier", "Global", "URI")
	ok := c.expect("PutSuccessful", "Identifier", "Global", "URI", "StartupTime", "CompletionTime")
	wantField(t, ok, "Identifier", "id2943690444352725")
	wantField(t, ok, "Global", "false")
	uri := ok.fields["URI"]
	if !chkShape.MatchString(uri) || strings.Contains(uri, "/") {
		t.Fatalf("PutSuccessful URI %q is not a bare CHK request URI", uri)
	}
	if gen.fields["URI"] != uri {
		t.Errorf("URIGenerated %q and PutSuccessful %q differ", gen.fields["URI"], uri)
	}

	c.send(pyGet("id3556208220915880", uri))
	var found rawMsg
	for {
		m := c.read()
		switch m.name {
		case "SimpleProgress":
			for _, k := range []string{"Total", "Required", "Failed", "FatallyFailed", "Succeeded", "FinalizedTotal", "Identifier", "Global"} {
				if _, ok := m.fields[k]; !ok {
					t.Errorf("SimpleProgress lacks %s", k)
				}
			}
			continue
		case "ExpectedMIME", "ExpectedDataLength":
			t.Errorf("%s sent at Verbosity=7, which does not ask for it", m.name)
			continue
		case "DataFound":
			found = m
		default:
			t.Fatalf("unexpected %s before DataFound:\n%s", m.name, m)
		}
		break
	}
	for _, k := range []string{"Identifier", "Global", "Metadata.ContentType", "DataLength", "StartupTime", "CompletionTime"} {
		if _, ok := found.fields[k]; !ok {
			t.Errorf("DataFound lacks %s", k)
		}
	}
	wantField(t, found, "Metadata.ContentType", "text/plain")
	wantField(t, found, "DataLength", "14")
	all := c.expect("AllData", "DataLength", "Identifier", "Global", "StartupTime", "CompletionTime", "Metadata.ContentType")
	if all.end != "Data" || string(all.data) != helloText {
		t.Errorf("AllData carries %q (end %q), want %q", all.data, all.end, helloText)
	}
	wantField(t, all, "Identifier", "id3556208220915880")
	wantField(t, all, "DataLength", "14")

	// A key nobody inserted.
	absent := chkURI([]byte("never inserted")).String()
	c.send(pyGet("id-absent", absent))
	failed := c.expectPast("GetFailed", "Code", "CodeDescription", "ShortCodeDescription", "Fatal", "Identifier", "Global")
	wantField(t, failed, "Code", "13")
	wantField(t, failed, "Identifier", "id-absent")

	// A line without '=': answered with the Identifier, and the connection goes on.
	c.send("ClientGet\nIdentifier=id-malformed\nthis line has no equals sign\nURI=" + uri + "\nEndMessage\n")
	pe := c.expect("ProtocolError", "Code", "CodeDescription", "Fatal", "Global", "Identifier")
	wantField(t, pe, "Code", "3")
	wantField(t, pe, "Identifier", "id-malformed")
	wantField(t, pe, "Fatal", "false")

	// A URI that is not one.
	c.send(pyGet("id-baduri", "CHK@not-a-key"))
	pe = c.expect("ProtocolError", "Code", "CodeDescription", "Fatal", "Global", "Identifier")
	wantField(t, pe, "Code", "4")
	wantField(t, pe, "Identifier", "id-baduri")

	// A message this node does not know.
	c.send("ProbeRequest\nIdentifier=id-unknown\nType=BANDWIDTH\nEndMessage\n")
	pe = c.expect("ProtocolError", "Code", "CodeDescription", "Fatal", "Global", "Identifier")
	wantField(t, pe, "Code", "7")
	wantField(t, pe, "Identifier", "id-unknown")

	// Still usable: the same Identifier as the finished put is free again.
	c.send(pyPut("id2943690444352725", helloText))
	c.expect("URIGenerated")
	c.expect("PutSuccessful")
}

// TestConformancePutDirRedirects is pyFreenet's putdir with filebyfile=True (§6a): each file
// as its own ClientPut, then a manifest of redirects under a USK.
func TestConformancePutDirRedirects(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dialRaw(t, addr)
	c.hello()
	c.send(pyGenerateSSK)
	kp := c.expect("SSKKeypair", "InsertURI", "RequestURI")

	pages := []struct{ name, body string }{
		{"b.html", "<html><body>b</body></html>\n"},
		{"index.html", "<html><body><a href=\"b.html\">b</a></body></html>\n"},
	}
	chks := make([]string, len(pages))
	for i, p := range pages {
		c.send(sitePut("id19507139980257"+strconv.Itoa(i), p.body))
		c.expect("URIGenerated", "URI")
		chks[i] = c.expect("PutSuccessful", "URI").fields["URI"]
	}
	insert := "USK@" + strings.TrimPrefix(kp.fields["InsertURI"], "SSK@") + "mysite/0"
	c.send("ClientPutComplexDir\n" +
		"Identifier=id1950713998025701\n" +
		"Verbosity=0\n" +
		"MaxRetries=3\n" +
		"PriorityClass=4\n" +
		"URI=" + insert + "\n" +
		"Codecs=GZIP, BZIP2, LZMA, LZMA_NEW\n" +
		"Persistence=connection\n" +
		"Global=false\n" +
		"DefaultName=index.html\n" +
		"Files.0.Name=b.html\n" +
		"Files.0.UploadFrom=redirect\n" +
		"Files.0.TargetURI=" + chks[0] + "\n" +
		"Files.1.Name=index.html\n" +
		"Files.1.UploadFrom=redirect\n" +
		"Files.1.TargetURI=" + chks[1] + "\n" +
		"EndMessage\n")
	c.expect("URIGenerated", "Identifier", "Global", "URI")
	ok := c.expect("PutSuccessful", "Identifier", "Global", "URI", "StartupTime", "CompletionTime")
	want := "USK@" + strings.TrimPrefix(kp.fields["RequestURI"], "SSK@") + "mysite/0"
	wantField(t, ok, "URI", want)

	c.send(pyGet("id-site-b", want+"/b.html"))
	c.expectPast("DataFound")
	if all := c.expect("AllData"); string(all.data) != pages[0].body {
		t.Errorf("b.html through the site: %q, want %q", all.data, pages[0].body)
	}
}

// TestConformanceSiteManager is freesitemgr's sequence (§6b): the global queue, a dry-run
// genchk, a persistent global insert, TestDDA refused, and a manifest with direct data.
func TestConformanceSiteManager(t *testing.T) {
	backend := newMemBackend()
	_, addr := startServer(t, Config{Backend: backend})
	c := dialRaw(t, addr)
	c.hello()
	c.send("WatchGlobal\nEnabled=true\nIdentifier=None\nEndMessage\n")
	c.send(pyGenerateSSK)
	kp := c.expect("SSKKeypair", "InsertURI", "RequestURI") // WatchGlobal has no reply

	sitemap := "<html><body>sitemap</body></html>\n"
	genchk := func(id, getCHKOnly, persistence, global string) string {
		return "ClientPut\n" +
			"URI=CHK@\n" +
			"Metadata.ContentType=text/html\n" +
			"Identifier=" + id + "\n" +
			"Verbosity=0\n" +
			"MaxRetries=-1\n" +
			"PriorityClass=4\n" +
			"GetCHKOnly=" + getCHKOnly + "\n" +
			"Persistence=" + persistence + "\n" +
			"Global=" + global + "\n" +
			"TargetFilename=sitemap.html\n" +
			"Codecs=GZIP, BZIP2, LZMA, LZMA_NEW\n" +
			"UploadFrom=direct\n" +
			"DataLength=" + strconv.Itoa(len(sitemap)) + "\n" +
			"Data\n" + sitemap
	}
	c.send(genchk("id-genchk", "true", "connection", "false"))
	c.expect("URIGenerated", "URI")
	dry := c.expect("PutSuccessful", "URI").fields["URI"]
	if !chkShape.MatchString(dry) || !strings.HasSuffix(dry, "/sitemap.html") {
		t.Errorf("genchk URI %q is not CHK@…/sitemap.html", dry)
	}
	if backend.puts != 0 {
		t.Errorf("GetCHKOnly stored %d inserts, want none", backend.puts)
	}

	c.send("ListPersistentRequests\nIdentifier=__global\nEndMessage\n")
	end := c.expect("EndListPersistentRequests")
	wantField(t, end, "Identifier", "__global")

	c.send(genchk("freesitemgr|site|sitemap.html", "False", "forever", "true"))
	c.expect("URIGenerated")
	put := c.expect("PutSuccessful", "Identifier", "Global", "URI", "StartupTime", "CompletionTime")
	wantField(t, put, "Global", "true")
	wantField(t, put, "URI", dry)

	// The site's directory is not on the node's machine: a ProtocolError, and freesitemgr
	// sends the files directly.
	c.send("TestDDARequest\nDirectory=/home/user/site\nWantReadDirectory=True\nWantWriteDirectory=False\nIdentifier=__global\nEndMessage\n")
	pe := c.expect("ProtocolError", "Code", "CodeDescription", "Fatal", "Global", "Identifier")
	wantField(t, pe, "Code", "9")
	wantField(t, pe, "Identifier", "__global")

	index := strings.Repeat("i", 40) + "<html></html" // 52 bytes
	b := "<b>b</b>\n"                                 // 9 bytes
	insert := "USK@" + strings.TrimPrefix(kp.fields["InsertURI"], "SSK@") + "site/0"
	c.send("ClientPutComplexDir\n" +
		"Identifier=freesitemgr|site|__manifest\n" +
		"Verbosity=0\n" +
		"MaxRetries=-1\n" +
		"PriorityClass=4\n" +
		"URI=" + insert + "\n" +
		"Persistence=forever\n" +
		"Global=true\n" +
		"DefaultName=index.html\n" +
		"Files.0.Name=index.html\n" +
		"Files.0.UploadFrom=direct\n" +
		"Files.0.DataLength=52\n" +
		"Files.0.Metadata.ContentType=text/html\n" +
		"Files.1.Name=sitemap.html\n" +
		"Files.1.UploadFrom=redirect\n" +
		"Files.1.TargetURI=" + dry + "\n" +
		"Files.2.Name=b.html\n" +
		"Files.2.UploadFrom=direct\n" +
		"Files.2.DataLength=9\n" +
		"Files.2.Metadata.ContentType=text/html\n" +
		"DataLength=61\n" +
		"Data\n" + index + b)
	c.expect("URIGenerated", "URI")
	site := c.expect("PutSuccessful", "Identifier", "Global", "URI", "StartupTime", "CompletionTime")
	want := "USK@" + strings.TrimPrefix(kp.fields["RequestURI"], "SSK@") + "site/0"
	wantField(t, site, "URI", want)
	wantField(t, site, "Identifier", "freesitemgr|site|__manifest")

	// The client drops; a new one watching the global queue sees both requests finished.
	c.nc.Close()
	d := dialRaw(t, addr)
	d.hello()
	d.send("WatchGlobal\nEnabled=true\nEndMessage\n")
	d.send("ListPersistentRequests\nIdentifier=__global\nEndMessage\n")
	var names []string
	for {
		m := d.read()
		if m.name == "EndListPersistentRequests" {
			break
		}
		names = append(names, m.name+" "+m.fields["Identifier"])
	}
	wantList := []string{
		"PersistentPut freesitemgr|site|sitemap.html",
		"URIGenerated freesitemgr|site|sitemap.html",
		"PutSuccessful freesitemgr|site|sitemap.html",
		"PersistentPutDir freesitemgr|site|__manifest",
		"URIGenerated freesitemgr|site|__manifest",
		"PutSuccessful freesitemgr|site|__manifest",
	}
	if strings.Join(names, "\n") != strings.Join(wantList, "\n") {
		t.Errorf("ListPersistentRequests gave\n%s\nwant\n%s", strings.Join(names, "\n"), strings.Join(wantList, "\n"))
	}

	for _, f := range []struct{ path, body string }{{"", index}, {"/index.html", index}, {"/b.html", b}, {"/sitemap.html", sitemap}} {
		d.send(pyGet("id-fetch"+f.path, want+f.path))
		d.expectPast("DataFound")
		if all := d.expect("AllData"); string(all.data) != f.body {
			t.Errorf("%s: got %q, want %q", want+f.path, all.data, f.body)
		}
	}
}

// pyRedirect is what fcpredirect (pyFreenet's FCPNode.redirect) sends: a ClientPut of no
// data, UploadFrom=redirect with the target.
func pyRedirect(id, from, to string) string {
	return "ClientPut\n" +
		"Persistence=connection\n" +
		"Global=false\n" +
		"URI=" + from + "\n" +
		"Identifier=" + id + "\n" +
		"Verbosity=0\n" +
		"MaxRetries=-1\n" +
		"PriorityClass=3\n" +
		"RealTimeFlag=false\n" +
		"GetCHKOnly=false\n" +
		"Codecs=GZIP, BZIP2, LZMA, LZMA_NEW\n" +
		"LocalRequestOnly=False\n" +
		"UploadFrom=redirect\n" +
		"TargetURI=" + to + "\n" +
		"EndMessage\n"
}

// TestConformanceRedirect: fcpredirect's insert of a KSK that points at a CHK: the put
// succeeds with the KSK's URI, and fetching the KSK gives the CHK's content.
func TestConformanceRedirect(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dialRaw(t, addr)
	c.hello()
	c.send(pyPut("id1", helloText))
	chk := c.expectPast("PutSuccessful", "URI").fields["URI"]
	c.send(pyRedirect("id2", "KSK@lethe-redirect-test", chk))
	wantField(t, c.expectPast("PutSuccessful", "URI"), "URI", "KSK@lethe-redirect-test")
	c.send(pyGet("id3", "KSK@lethe-redirect-test"))
	c.expectPast("DataFound")
	all := c.expect("AllData", "DataLength")
	if string(all.data) != helloText {
		t.Errorf("the redirect gave %q, want %q", all.data, helloText)
	}

	// No target, a bad one, or data beside a redirect are refused, naming the request.
	for _, tc := range []struct{ msg, code string }{
		{strings.Replace(pyRedirect("id4", "KSK@x", chk), "TargetURI="+chk+"\n", "", 1), "5"},
		{pyRedirect("id5", "KSK@x", "CHK@nonsense"), "4"},
		{"ClientPut\nIdentifier=id6\nURI=KSK@x\nUploadFrom=redirect\nTargetURI=" + chk + "\nDataLength=1\nData\nx", "8"},
	} {
		c.send(tc.msg)
		pe := c.expect("ProtocolError", "Code", "Identifier")
		wantField(t, pe, "Code", tc.code)
	}
}
