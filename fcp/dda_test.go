package fcp

import (
	"crypto/sha256"
	"encoding/base64"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// pyTestDDA is pyFreenet's testDDA: TestDDARequest, then TestDDAResponse with what it read.
func pyTestDDARequest(dir string, read, write bool) string {
	b := map[bool]string{true: "True", false: "False"}
	return "TestDDARequest\nDirectory=" + dir + "\nWantReadDirectory=" + b[read] + "\nWantWriteDirectory=" + b[write] +
		"\nIdentifier=__global\nEndMessage\n"
}

// pyTestDDAResponse is its answer: the directory, and for a read test the node's file and what
// it read there ("" if it found none); for a write test nothing more, the node reads the file.
func pyTestDDAResponse(dir, readFile, content string) string {
	m := "TestDDAResponse\nDirectory=" + dir + "\n"
	if readFile != "" {
		m += "ReadFilename=" + readFile + "\nReadContent=" + content + "\n"
	}
	return m + "Identifier=__global\nEndMessage\n"
}

// pyPutDisk is `fcpput --disk`'s ClientPut of a text file, once testDDA has passed: fcpput's
// fields, then the file's path and FileHash, the SHA-256 of the connection's identifier, the
// request's and the file's content joined by '-', which Lethe does not need (the handshake is
// its proof) and ignores.
func pyPutDisk(id, path, connection, content string) string {
	hash := sha256.Sum256([]byte(connection + "-" + id + "-" + content))
	return "ClientPut\nPersistence=connection\nGlobal=false\nURI=CHK@\nMetadata.ContentType=text/plain\n" +
		"Identifier=" + id + "\nVerbosity=0\nMaxRetries=-1\nPriorityClass=3\nRealTimeFlag=false\nGetCHKOnly=false\n" +
		"DontCompress=true\nCodecs=GZIP, BZIP2, LZMA, LZMA_NEW\nLocalRequestOnly=False\nUploadFrom=disk\n" +
		"Filename=" + path + "\nFileHash=" + base64.StdEncoding.EncodeToString(hash[:]) + "\nEndMessage\n"
}

// proveRead does the read handshake for dir as pyFreenet does, reading the node's file.
func proveRead(t *testing.T, c *rawConn, dir string) {
	t.Helper()
	c.send(pyTestDDARequest(dir, true, false))
	reply := c.expect("TestDDAReply", "Directory", "ReadFilename", "Identifier")
	content, err := os.ReadFile(reply.fields["ReadFilename"])
	if err != nil {
		t.Fatalf("the node's test file: %v", err)
	}
	c.send(pyTestDDAResponse(dir, reply.fields["ReadFilename"], string(content)))
	done := c.expect("TestDDAComplete", "Directory", "ReadDirectoryAllowed")
	wantField(t, done, "ReadDirectoryAllowed", "true")
	if _, err := os.Stat(reply.fields["ReadFilename"]); err == nil {
		t.Error("the node left its test file behind")
	}
}

// TestConformanceDiskAccess: the TestDDA handshake as Freenet does it, then an insert of a
// file (UploadFrom=disk) and of a directory (ClientPutDiskDir) the client proved it can read;
// a wrong answer, or a file elsewhere, is refused.
func TestConformanceDiskAccess(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dialRaw(t, addr)
	hello := c.hello()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hello.txt"), []byte(helloText), 0o644)
	os.MkdirAll(filepath.Join(dir, "site", "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "site", "index.html"), []byte("<p>home</p>"), 0o644)
	os.WriteFile(filepath.Join(dir, "site", "sub", "b.html"), []byte("<p>b</p>"), 0o644)
	os.WriteFile(filepath.Join(dir, "site", ".hidden"), []byte("secret"), 0o644)
	diskPut := pyPutDisk("disk1", filepath.Join(dir, "hello.txt"), hello.fields["ConnectionIdentifier"], helloText)

	// Before the handshake, and after a wrong answer, the node reads nothing.
	c.send(diskPut)
	wantField(t, c.expect("ProtocolError", "Code", "Identifier"), "Code", "25")
	c.send(pyTestDDARequest(dir, true, false))
	guess := c.expect("TestDDAReply", "ReadFilename")
	c.send(pyTestDDAResponse(dir, guess.fields["ReadFilename"], "guessed"))
	wantField(t, c.expect("TestDDAComplete", "ReadDirectoryAllowed"), "ReadDirectoryAllowed", "false")
	c.send(diskPut)
	wantField(t, c.expect("ProtocolError", "Code"), "Code", "25")

	proveRead(t, c, dir)
	c.send(diskPut)
	uri := c.expectPast("PutSuccessful", "URI").fields["URI"]
	c.send(pyGet("get1", uri))
	c.expectPast("DataFound")
	if all := c.expect("AllData"); string(all.data) != helloText {
		t.Errorf("the file inserted from disk reads back %q", all.data)
	}
	// Outside the proved directory: refused.
	c.send(strings.Replace(diskPut, "Filename="+filepath.Join(dir, "hello.txt"), "Filename=/etc/passwd", 1))
	wantField(t, c.expect("ProtocolError", "Code"), "Code", "25")
	c.send(strings.Replace(diskPut, "Filename="+filepath.Join(dir, "hello.txt"), "Filename="+filepath.Join(dir, "..", "x"), 1))
	wantField(t, c.expect("ProtocolError", "Code"), "Code", "25")

	// A directory: its files, not the hidden one, under their paths.
	c.send(pyGenerateSSK)
	kp := c.expect("SSKKeypair", "InsertURI", "RequestURI")
	c.send("ClientPutDiskDir\nIdentifier=dir1\nURI=USK@" + strings.TrimPrefix(kp.fields["InsertURI"], "SSK@") + "site/0\n" +
		"Filename=" + filepath.Join(dir, "site") + "\nDefaultName=index.html\nPersistence=connection\nGlobal=false\nVerbosity=0\nEndMessage\n")
	site := c.expectPast("PutSuccessful", "URI").fields["URI"]
	for path, want := range map[string]string{"index.html": "<p>home</p>", "sub/b.html": "<p>b</p>"} {
		c.send(pyGet("get-"+path, site+"/"+path))
		c.expectPast("DataFound")
		if all := c.expect("AllData"); string(all.data) != want {
			t.Errorf("%s reads back %q", path, all.data)
		}
	}
	c.send(pyGet("get-hidden", site+"/.hidden"))
	c.expectPast("GetFailed")

	// The write test: the client writes what the node asks, where it asks.
	c.send(pyTestDDARequest(dir, false, true))
	w := c.expect("TestDDAReply", "WriteFilename", "ContentToWrite")
	os.WriteFile(w.fields["WriteFilename"], []byte(w.fields["ContentToWrite"]), 0o644)
	c.send(pyTestDDAResponse(dir, "", ""))
	wantField(t, c.expect("TestDDAComplete", "WriteDirectoryAllowed"), "WriteDirectoryAllowed", "true")

	// A directory that is not there.
	c.send(pyTestDDARequest(filepath.Join(dir, "missing"), true, false))
	wantField(t, c.expect("ProtocolError", "Code"), "Code", "9")
}

// pyGetToDisk is FCPNode.get(uri, file=path) (docs/fcp-clients.md §8): fcpget's ClientGet with
// ReturnType=disk and the file's absolute path, after a write test of its directory.
func pyGetToDisk(id, uri, path string) string {
	return strings.Replace(pyGet(id, uri), "ReturnType=direct\n", "ReturnType=disk\nFilename="+path+"\n", 1)
}

// TestConformanceGetToDisk: once the client proved it can write a directory, a fetch with
// ReturnType=disk writes the file there and ends with DataFound (no AllData); the node
// writes no file elsewhere: not before the proof, not over a file that is there, not through
// a symbolic link the client put in the directory, not for a request meant to outlive the
// proof.
func TestConformanceGetToDisk(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dialRaw(t, addr)
	c.hello()
	c.send(pyPut("put", helloText))
	uri := c.expectPast("PutSuccessful", "URI").fields["URI"]
	dir, elsewhere := t.TempDir(), t.TempDir()
	out := filepath.Join(dir, "hello.txt")

	c.send(pyGetToDisk("early", uri, out))
	wantField(t, c.expect("ProtocolError", "Code", "Identifier"), "Code", "25")

	// pyFreenet's testDDA with WantWriteDirectory=True: it writes what the node asks.
	c.send("TestDDARequest\nDirectory=" + dir + "\nWantWriteDirectory=True\nIdentifier=__global\nEndMessage\n")
	w := c.expect("TestDDAReply", "WriteFilename", "ContentToWrite")
	os.WriteFile(w.fields["WriteFilename"], []byte(w.fields["ContentToWrite"]), 0o644)
	c.send(pyTestDDAResponse(dir, "", ""))
	wantField(t, c.expect("TestDDAComplete", "WriteDirectoryAllowed"), "WriteDirectoryAllowed", "true")
	os.Remove(w.fields["WriteFilename"])

	c.send(pyGetToDisk("get", uri, out))
	found := c.expectPast("DataFound", "Identifier", "DataLength")
	wantField(t, found, "DataLength", strconv.Itoa(len(helloText)))
	if got, err := os.ReadFile(out); err != nil || string(got) != helloText {
		t.Errorf("the file written: %q, %v", got, err)
	}

	c.send(pyGetToDisk("again", uri, out))
	wantField(t, c.expect("ProtocolError", "Code", "Identifier"), "Code", "25")
	c.send(strings.Replace(pyGetToDisk("kept", uri, filepath.Join(dir, "kept.txt")), "Persistence=connection", "Persistence=forever", 1))
	wantField(t, c.expect("ProtocolError", "Code", "Identifier"), "Code", "25")

	if err := os.Symlink(elsewhere, filepath.Join(dir, "link")); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	c.send(pyGetToDisk("link", uri, filepath.Join(dir, "link", "x.txt")))
	failed := c.expectPast("GetFailed", "Code", "Identifier")
	wantField(t, failed, "Identifier", "link")
	t.Logf("through the link: %s", failed.fields["ExtraDescription"])
	if _, err := os.Stat(filepath.Join(elsewhere, "x.txt")); err == nil {
		t.Error("the node wrote through a symbolic link out of the proved directory")
	}
}
