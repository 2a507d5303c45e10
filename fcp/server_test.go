package fcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"lethe/crypto"
)

// funcBackend is a test double whose methods are the given functions, falling back to a
// memBackend for those left nil.
type funcBackend struct {
	*memBackend
	put func(ctx context.Context, req PutRequest, progress func(Progress)) (crypto.RequestURI, error)
	get func(ctx context.Context, req GetRequest, progress func(Progress)) (Found, io.ReadCloser, error)
}

func (b *funcBackend) Put(ctx context.Context, req PutRequest, progress func(Progress)) (crypto.RequestURI, error) {
	if b.put != nil {
		return b.put(ctx, req, progress)
	}
	return b.memBackend.Put(ctx, req, progress)
}

func (b *funcBackend) Get(ctx context.Context, req GetRequest, progress func(Progress)) (Found, io.ReadCloser, error) {
	if b.get != nil {
		return b.get(ctx, req, progress)
	}
	return b.memBackend.Get(ctx, req, progress)
}

func putMessage(id, uri, extra, data string) string {
	return "ClientPut\nIdentifier=" + id + "\nURI=" + uri + "\n" + extra +
		"DataLength=" + strconv.Itoa(len(data)) + "\nData\n" + data
}

func getMessage(id, uri, extra string) string {
	return "ClientGet\nIdentifier=" + id + "\nURI=" + uri + "\n" + extra + "EndMessage\n"
}

func within(tb testing.TB, ch <-chan struct{}, what string) {
	tb.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		tb.Fatalf("timed out waiting for %s", what)
	}
}

// TestPutStreamsData checks that a ClientPut's data reaches the Backend while the client is
// still sending it, and that the connection reads on correctly after the data.
func TestPutStreamsData(t *testing.T) {
	called := make(chan struct{})
	backend := &funcBackend{memBackend: newMemBackend()}
	backend.put = func(ctx context.Context, req PutRequest, progress func(Progress)) (crypto.RequestURI, error) {
		close(called)
		return backend.memBackend.Put(ctx, req, progress)
	}
	_, addr := startServer(t, Config{Backend: backend})
	c := dialRaw(t, addr)
	c.hello()
	data := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	msg := putMessage("big", "CHK@", "", data)
	half := len(msg) - len(data)/2
	c.send(msg[:half])
	within(t, called, "the Backend to be called before all the data was sent")
	c.send(msg[half:] + pyGenerateSSK)
	// The put finishes in its own time; GenerateSSK may be answered first.
	seen := map[string]rawMsg{}
	for len(seen) < 3 {
		m := c.read()
		seen[m.name] = m
	}
	if want := chkURI([]byte(data)).String(); seen["PutSuccessful"].fields["URI"] != want {
		t.Errorf("URI %s, want %s", seen["PutSuccessful"].fields["URI"], want)
	}
	if _, ok := seen["SSKKeypair"]; !ok {
		t.Errorf("got %v, want URIGenerated, PutSuccessful and SSKKeypair", seen)
	}
}

// TestPutBackendLeavesData: a Backend that fails without reading the data; the server skips
// it and reads the next message.
func TestPutBackendLeavesData(t *testing.T) {
	backend := &funcBackend{memBackend: newMemBackend()}
	backend.put = func(context.Context, PutRequest, func(Progress)) (crypto.RequestURI, error) {
		return crypto.RequestURI{}, fmt.Errorf("store full: %w", ErrRouteNotFound)
	}
	_, addr := startServer(t, Config{Backend: backend})
	c := dialRaw(t, addr)
	c.hello()
	c.send(putMessage("p", "CHK@", "", strings.Repeat("x", 100000)) + pyGenerateSSK)
	// The put fails in its own goroutine, so GenerateSSK may be answered first.
	seen := map[string]rawMsg{}
	for len(seen) < 2 {
		m := c.read()
		seen[m.name] = m
	}
	failed, ok := seen["PutFailed"]
	if _, keypair := seen["SSKKeypair"]; !ok || !keypair {
		t.Fatalf("got %v, want PutFailed and SSKKeypair", seen)
	}
	c.check(failed, "PutFailed", []string{"Code", "CodeDescription", "ShortCodeDescription", "Fatal", "Identifier", "Global", "ExtraDescription"})
	wantField(t, failed, "Code", strconv.Itoa(PutCodeRouteNotFound))
}

func TestDataLengthOverLimit(t *testing.T) {
	_, addr := startServer(t, Config{MaxDataLength: 1000})
	c := dialRaw(t, addr)
	c.hello()
	c.send("ClientPut\nIdentifier=x\nURI=CHK@\nDataLength=1001\nData\n")
	pe := c.expect("ProtocolError", "Code", "Fatal")
	wantField(t, pe, "Fatal", "true")
	wantField(t, pe, "Identifier", "x")
	c.expectClosed()
}

func TestLineTooLongIsFatal(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dialRaw(t, addr)
	c.hello()
	c.send("ClientGet\nIdentifier=" + strings.Repeat("x", MaxFieldLine) + "\nEndMessage\n")
	pe := c.expect("ProtocolError", "Code", "Fatal")
	wantField(t, pe, "Code", "3")
	wantField(t, pe, "Fatal", "true")
	c.expectClosed()
}

func TestRequestFieldErrors(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dialRaw(t, addr)
	c.hello()
	chk := chkURI([]byte("x")).String()
	cases := []struct {
		name, msg, code, id string
	}{
		{"put without Identifier", "ClientPut\nURI=CHK@\nDataLength=1\nData\nx", "5", ""},
		{"put without URI", "ClientPut\nIdentifier=a\nDataLength=1\nData\nx", "5", "a"},
		{"put without data", "ClientPut\nIdentifier=a\nURI=CHK@\nEndMessage\n", "5", "a"},
		{"put from disk without TestDDA", "ClientPut\nIdentifier=a\nURI=CHK@\nUploadFrom=disk\nFilename=/etc/passwd\nEndMessage\n", "25", "a"},
		{"put from disk with data", putMessage("a", "CHK@", "UploadFrom=disk\nFilename=/etc/passwd\n", "x"), "8", "a"},
		{"put from a relative path", "ClientPut\nIdentifier=a\nURI=CHK@\nUploadFrom=disk\nFilename=passwd\nEndMessage\n", "8", "a"},
		{"put of a request URI", putMessage("a", "SSK@"+strings.TrimPrefix(chk, "CHK@"), "", "x"), "4", "a"},
		{"put with a '/' in TargetFilename", putMessage("a", "CHK@", "TargetFilename=a/b\n", "x"), "8", "a"},
		{"put with a bad MIME type", putMessage("a", "CHK@", "Metadata.ContentType=text\n", "x"), "35", "a"},
		{"put with a bad boolean", putMessage("a", "CHK@", "GetCHKOnly=perhaps\n", "x"), "8", "a"},
		{"put with a bad Verbosity", putMessage("a", "CHK@", "Verbosity=lots\n", "x"), "6", "a"},
		{"put with a bad Persistence", putMessage("a", "CHK@", "Persistence=always\n", "x"), "8", "a"},
		{"put with a bad PriorityClass", putMessage("a", "CHK@", "PriorityClass=9\n", "x"), "8", "a"},
		{"get to disk without Filename", getMessage("a", chk, "ReturnType=disk\n"), "5", "a"},
		{"get to disk, no directory proved", getMessage("a", chk, "ReturnType=disk\nFilename=/tmp/lethe-never-written\n"), "25", "a"},
		{"get to disk, a relative path", getMessage("a", chk, "ReturnType=disk\nFilename=x.txt\n"), "8", "a"},
		{"get with a bad ReturnType", getMessage("a", chk, "ReturnType=chunked\n"), "8", "a"},
		{"get of an insert URI", getMessage("a", "CHK@", ""), "4", "a"},
		{"get with a bad MaxSize", getMessage("a", chk, "MaxSize=-4\n"), "8", "a"},
		{"get of a persistent request in a Session", getMessage("a", chk, "Persistence=forever\nSession=s\n"), "8", "a"},
		{"get with a Session name too long", getMessage("a", chk, "Session="+strings.Repeat("s", maxSessionName+1)+"\n"), "8", "a"},
		{"status without Identifier", "GetRequestStatus\nEndMessage\n", "5", ""},
		{"status of nothing", "GetRequestStatus\nIdentifier=nothing\nEndMessage\n", "15", "nothing"},
		{"remove nothing", "RemovePersistentRequest\nIdentifier=nothing\nGlobal=true\nEndMessage\n", "15", "nothing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.send(tc.msg)
			pe := c.expect("ProtocolError", "Code", "CodeDescription", "Fatal", "Global")
			wantField(t, pe, "Code", tc.code)
			wantField(t, pe, "Fatal", "false")
			if tc.id != "" {
				wantField(t, pe, "Identifier", tc.id)
			}
		})
	}
}

func TestPutDirFieldErrors(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dialRaw(t, addr)
	c.hello()
	c.send(pyGenerateSSK)
	site := "USK@" + strings.TrimPrefix(c.expect("SSKKeypair").fields["InsertURI"], "SSK@") + "s/0"
	chk := chkURI([]byte("x")).String()
	head := "ClientPutComplexDir\nIdentifier=d\nURI=" + site + "\n"
	cases := []struct{ name, msg, code string }{
		{"no Files section", head + "EndMessage\n", "5"},
		{"no Files.0", head + "Files.1.Name=a\nFiles.1.UploadFrom=redirect\nFiles.1.TargetURI=" + chk + "\nEndMessage\n", "5"},
		{"entry without Name", head + "Files.0.UploadFrom=redirect\nFiles.0.TargetURI=" + chk + "\nEndMessage\n", "5"},
		{"direct without DataLength", head + "Files.0.Name=a\nFiles.0.UploadFrom=direct\nDataLength=1\nData\nx", "5"},
		{"direct by default, without DataLength", head + "Files.0.Name=a\nDataLength=1\nData\nx", "5"},
		{"direct without the data", head + "Files.0.Name=a\nFiles.0.DataLength=1\nEndMessage\n", "5"},
		{"data lengths disagree", head + "Files.0.Name=a\nFiles.0.DataLength=1\nDataLength=2\nData\nxy", "8"},
		{"redirect without TargetURI", head + "Files.0.Name=a\nFiles.0.UploadFrom=redirect\nEndMessage\n", "5"},
		{"redirect to a bad URI", head + "Files.0.Name=a\nFiles.0.UploadFrom=redirect\nFiles.0.TargetURI=CHK@zz\nEndMessage\n", "4"},
		{"from disk", head + "Files.0.Name=a\nFiles.0.UploadFrom=disk\nFiles.0.Filename=/etc/passwd\nEndMessage\n", "25"},
		{"bad MIME type", head + "Files.0.Name=a\nFiles.0.UploadFrom=redirect\nFiles.0.TargetURI=" + chk + "\nFiles.0.Metadata.ContentType=html\nEndMessage\n", "35"},
		{"same name twice", head + "Files.0.Name=a\nFiles.0.UploadFrom=redirect\nFiles.0.TargetURI=" + chk + "\nFiles.1.Name=a\nFiles.1.UploadFrom=redirect\nFiles.1.TargetURI=" + chk + "\nEndMessage\n", "8"},
		{"name with ..", head + "Files.0.Name=a/../b\nFiles.0.UploadFrom=redirect\nFiles.0.TargetURI=" + chk + "\nEndMessage\n", "8"},
		{"too many files", head + "Files." + strconv.Itoa(MaxDirFiles) + ".Name=a\nEndMessage\n", "34"},
		{"bad index", head + "Files.01.Name=a\nEndMessage\n", "8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.send(tc.msg)
			pe := c.expect("ProtocolError", "Code", "CodeDescription", "Fatal", "Global", "Identifier")
			wantField(t, pe, "Code", tc.code)
			wantField(t, pe, "Identifier", "d")
		})
	}
	// Entries stop at the first gap: Files.2 is not part of the site.
	c.send(head + "DefaultName=a\nFiles.0.Name=a\nFiles.0.DataLength=1\nFiles.2.Name=c\nFiles.2.DataLength=1\nDataLength=1\nData\nA")
	ok := c.expectPast("PutSuccessful", "URI")
	c.send(getMessage("g1", ok.fields["URI"]+"/a", ""))
	c.expectPast("DataFound")
	c.expect("AllData")
	c.send(getMessage("g2", ok.fields["URI"]+"/c", ""))
	failed := c.expectPast("GetFailed", "Code")
	wantField(t, failed, "Code", strconv.Itoa(GetCodeNotInArchive))
}

func TestVerbosity(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dialRaw(t, addr)
	c.hello()
	c.send(putMessage("p", "CHK@", "Metadata.ContentType=text/plain\nVerbosity=1\n", helloText))
	var names []string
	for {
		m := c.read()
		names = append(names, m.name)
		if m.name == "PutSuccessful" {
			break
		}
	}
	if !strings.Contains(strings.Join(names, " "), "SimpleProgress") || !strings.Contains(strings.Join(names, " "), "URIGenerated") {
		t.Errorf("put at Verbosity=1 sent %v, want SimpleProgress and URIGenerated among them", names)
	}
	uri := chkURI([]byte(helloText)).String()
	for _, tc := range []struct {
		verbosity string
		want      []string
	}{
		{"0", []string{"DataFound", "AllData"}},
		{"96", []string{"ExpectedMIME", "ExpectedDataLength", "DataFound", "AllData"}},
		{"-1", []string{"ExpectedMIME", "ExpectedDataLength", "SimpleProgress", "DataFound", "AllData"}},
	} {
		c.send(getMessage("g"+tc.verbosity, uri, "Verbosity="+tc.verbosity+"\n"))
		var got []string
		for {
			m := c.read()
			got = append(got, m.name)
			switch m.name {
			case "ExpectedMIME":
				wantField(t, m, "Metadata.ContentType", "text/plain")
			case "ExpectedDataLength":
				wantField(t, m, "DataLength", "14")
			}
			if m.name == "AllData" {
				break
			}
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("get at Verbosity=%s sent %v, want %v", tc.verbosity, got, tc.want)
		}
	}
}

func TestGetFailures(t *testing.T) {
	backend := newMemBackend()
	_, addr := startServer(t, Config{Backend: backend})
	c := dialRaw(t, addr)
	c.hello()
	c.send(putMessage("p", "CHK@", "", helloText))
	uri := c.expectPast("PutSuccessful").fields["URI"]

	c.send(getMessage("big", uri, "MaxSize=5\n"))
	failed := c.expectPast("GetFailed", "Code", "ExpectedDataLength")
	wantField(t, failed, "Code", "21")
	wantField(t, failed, "ExpectedDataLength", "14")

	c.send(getMessage("none", uri, "ReturnType=none\n"))
	c.expectPast("DataFound", "DataLength")
	c.send(pyGenerateSSK) // nothing else (no AllData) comes before its answer
	c.expect("SSKKeypair")

	// A site with editions 0 and 1: asking for 0 is redirected to 1, and the client asks
	// again under the same Identifier, as pyFreenet does.
	c.send(pyGenerateSSK)
	insert := strings.TrimPrefix(c.expect("SSKKeypair").fields["InsertURI"], "SSK@")
	var siteURI string
	for ed := range 2 {
		c.send("ClientPutComplexDir\nIdentifier=site" + strconv.Itoa(ed) + "\nURI=USK@" + insert + "s/" + strconv.Itoa(ed) +
			"\nDefaultName=i\nFiles.0.Name=i\nFiles.0.DataLength=1\nDataLength=1\nData\n" + strconv.Itoa(ed))
		siteURI = c.expectPast("PutSuccessful").fields["URI"]
	}
	old := strings.TrimSuffix(siteURI, "1") + "0"
	c.send(getMessage("usk", old, ""))
	redirect := c.expectPast("GetFailed", "Code", "ShortCodeDescription", "RedirectURI", "Fatal")
	wantField(t, redirect, "Code", "27")
	wantField(t, redirect, "ShortCodeDescription", "New URI")
	wantField(t, redirect, "RedirectURI", siteURI)
	c.send(getMessage("usk", redirect.fields["RedirectURI"], ""))
	c.expectPast("DataFound")
	if all := c.expect("AllData"); string(all.data) != "1" {
		t.Errorf("edition 1 holds %q, want 1", all.data)
	}
}

func TestIdentifierCollision(t *testing.T) {
	backend := newMemBackend()
	backend.hold = make(chan struct{})
	_, addr := startServer(t, Config{Backend: backend})
	c := dialRaw(t, addr)
	c.hello()
	uri := chkURI([]byte("x")).String()
	c.send(getMessage("same", uri, ""))
	c.send(getMessage("same", uri, ""))
	coll := c.expect("IdentifierCollision", "Identifier", "Global")
	wantField(t, coll, "Identifier", "same")
	// Another connection has its own identifiers.
	d := dialRaw(t, addr)
	d.hello()
	d.send(getMessage("same", uri, ""))
	close(backend.hold)
	c.expectPast("GetFailed")
	d.expectPast("GetFailed")

	// On the global queue an Identifier stays taken until the request is removed.
	put := putMessage("g", "CHK@", "Persistence=forever\nGlobal=true\n", "x")
	c.send(put)
	c.expectPast("PutSuccessful")
	d.send(put)
	d.expect("IdentifierCollision")
	d.send("RemovePersistentRequest\nIdentifier=g\nGlobal=true\nEndMessage\n")
	d.expect("PersistentRequestRemoved", "Identifier", "Global")
	d.send(put)
	d.expectPast("PutSuccessful")
}

// TestConnectionRequestsDie: a Persistence=connection request is cancelled when its client
// goes away without a word.
func TestConnectionRequestsDie(t *testing.T) {
	ended := make(chan error, 1)
	backend := &funcBackend{memBackend: newMemBackend()}
	started := make(chan struct{})
	backend.get = func(ctx context.Context, req GetRequest, progress func(Progress)) (Found, io.ReadCloser, error) {
		close(started)
		<-ctx.Done()
		ended <- ctx.Err()
		return Found{}, nil, ctx.Err()
	}
	_, addr := startServer(t, Config{Backend: backend})
	c := dialRaw(t, addr)
	c.hello()
	c.send(getMessage("g", chkURI([]byte("x")).String(), ""))
	within(t, started, "the fetch to start")
	c.nc.Close()
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("fetch ended with %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the fetch went on after its connection closed")
	}
}

// TestGlobalQueue: a persistent global fetch runs on after its client leaves; another client
// finds it in the list, reads its data with GetRequestStatus and removes it.
func TestGlobalQueue(t *testing.T) {
	backend := newMemBackend()
	backend.hold = make(chan struct{})
	_, addr := startServer(t, Config{Backend: backend})
	c := dialRaw(t, addr)
	c.hello()
	c.send(putMessage("p", "CHK@", "Metadata.ContentType=text/plain\n", helloText))
	close(backend.hold)
	uri := c.expectPast("PutSuccessful").fields["URI"]
	backend.hold = nil

	c.send(getMessage("fetch", uri, "Persistence=forever\nGlobal=true\n"))
	found := c.expectPast("DataFound", "Identifier", "Global", "Metadata.ContentType", "DataLength")
	wantField(t, found, "Global", "true")
	c.nc.Close()

	d := dialRaw(t, addr)
	d.hello()
	d.send("ListPersistentRequests\nEndMessage\n") // not watching the global queue: empty
	d.expect("EndListPersistentRequests")
	d.send("WatchGlobal\nEnabled=True\nEndMessage\nListPersistentRequests\nEndMessage\n")
	get := d.expect("PersistentGet", "Identifier", "URI", "Global", "PersistenceType", "ReturnType")
	wantField(t, get, "URI", uri)
	wantField(t, get, "PersistenceType", "forever")
	d.expect("DataFound")
	d.expect("EndListPersistentRequests")

	d.send("GetRequestStatus\nIdentifier=fetch\nGlobal=true\nEndMessage\n")
	d.expect("PersistentGet")
	d.expect("DataFound")
	all := d.expect("AllData", "DataLength", "Identifier", "Global", "Metadata.ContentType")
	if string(all.data) != helloText {
		t.Errorf("AllData %q, want %q", all.data, helloText)
	}
	d.send("RemovePersistentRequest\nIdentifier=fetch\nGlobal=true\nEndMessage\n")
	d.expect("PersistentRequestRemoved")
	d.send("GetRequestStatus\nIdentifier=fetch\nGlobal=true\nEndMessage\n")
	wantField(t, d.expect("ProtocolError"), "Code", "15")
}

// TestQueueSurvivesRestart: with a StateDir, an unfinished global insert resumes at the
// next start from its kept data, and a finished fetch keeps its result.
func TestQueueSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	first := newMemBackend()
	first.hold = make(chan struct{}) // never released: the insert is cut short by Close
	first.started = make(chan string, 4)
	s1, addr := startServer(t, Config{Backend: first, StateDir: dir})
	c := dialRaw(t, addr)
	c.hello()
	// Persistence=reboot lives on the queue only while the server runs.
	c.send(putMessage("gone", "CHK@", "Persistence=reboot\nGlobal=true\n", "other data"))
	c.expect("URIGenerated")
	<-first.started
	c.send(putMessage("keep", "CHK@", "Persistence=forever\nGlobal=true\nMetadata.ContentType=text/plain\n", helloText))
	c.expect("URIGenerated")
	<-first.started
	s1.Close()

	second := newMemBackend()
	_, addr = startServer(t, Config{Backend: second, StateDir: dir})
	d := dialRaw(t, addr)
	d.hello()
	d.send("WatchGlobal\nEnabled=true\nEndMessage\n")
	// The resumed insert reports to watchers as it ends, and the list shows it; poll the
	// list until its end has been seen either way.
	var ok rawMsg
	for deadline := time.Now().Add(10 * time.Second); ok.name == ""; {
		d.send("ListPersistentRequests\nEndMessage\n")
		for m := d.read(); m.name != "EndListPersistentRequests"; m = d.read() {
			if m.fields["Identifier"] != "keep" {
				t.Fatalf("the list has a request that should not have survived:\n%s", m)
			}
			if m.name == "PutSuccessful" {
				ok = m
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the resumed insert did not finish")
		}
	}
	uri := chkURI([]byte(helloText)).String()
	wantField(t, ok, "URI", uri)
	wantField(t, ok, "Identifier", "keep")
	if second.puts != 1 {
		t.Errorf("the second node stored %d inserts, want 1", second.puts)
	}

	d.send(getMessage("result", uri, "Persistence=forever\nGlobal=true\n"))
	for m := d.read(); m.name != "DataFound"; m = d.read() {
		if m.fields["Identifier"] == "result" {
			t.Fatalf("got %s, want DataFound", m)
		}
	}
	d.nc.Close()
	_, addr = startServer(t, Config{Backend: newMemBackend(), StateDir: dir})
	e := dialRaw(t, addr)
	e.hello()
	e.send("GetRequestStatus\nIdentifier=result\nGlobal=true\nOnlyData=true\nEndMessage\n")
	if all := e.expect("AllData"); string(all.data) != helloText {
		t.Errorf("the kept result is %q, want %q", all.data, helloText)
	}
}

func TestMaxConns(t *testing.T) {
	_, addr := startServer(t, Config{MaxConns: 1})
	c := dialRaw(t, addr)
	c.hello()
	d := dialRaw(t, addr)
	d.send(pyHello)
	d.expectClosed()
}

func TestRunAndClose(t *testing.T) {
	s, err := NewServer(Config{Backend: newMemBackend(), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	addr, err := s.Addr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, addr.String())
	c.hello()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v", err)
	}
	c.expectClosed()
	s.Close()
	s.Close()
	if err := s.Serve(mustListen(t)); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close: %v", err)
	}
}

func mustListen(tb testing.TB) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return ln
}
