package fcp

import "testing"

// pyModifyRequest is pyFreenet's modifyrequest(Identifier=…, Global=True, ClientToken=…,
// PriorityClass=…): its keywords in order.
const pyModifyRequest = "ModifyPersistentRequest\nIdentifier=freesitemgr|site|sitemap.html\nGlobal=True\nClientToken=site-v2\nPriorityClass=1\nEndMessage\n"

// TestConformanceModifyPersistentRequest: a request on the global queue gets a new
// ClientToken and PriorityClass; the sender and the queue's watchers are told, the listing
// shows them, and they survive a restart of the server.
func TestConformanceModifyPersistentRequest(t *testing.T) {
	dir := t.TempDir()
	srv, addr := startServer(t, Config{StateDir: dir})
	c := dialRaw(t, addr)
	c.hello()
	w := dialRaw(t, addr)
	w.hello()
	w.send("WatchGlobal\nEnabled=true\nIdentifier=None\nEndMessage\n")
	c.send(putMessage("freesitemgr|site|sitemap.html", "CHK@", "Persistence=forever\nGlobal=true\nPriorityClass=4\n", "<html>map</html>"))
	c.expectPast("PutSuccessful")
	w.expectPast("PutSuccessful")

	c.send(pyModifyRequest)
	for _, conn := range []*rawConn{c, w} {
		m := conn.expect("PersistentRequestModified", "Identifier", "Global", "ClientToken", "PriorityClass")
		wantField(t, m, "ClientToken", "site-v2")
		wantField(t, m, "PriorityClass", "1")
	}
	w.send("ListPersistentRequests\nIdentifier=__global\nEndMessage\n")
	p := w.expect("PersistentPut", "PriorityClass", "ClientToken")
	wantField(t, p, "PriorityClass", "1")
	wantField(t, p, "ClientToken", "site-v2")

	c.send("ModifyPersistentRequest\nIdentifier=nothing\nGlobal=True\nPriorityClass=1\nEndMessage\n")
	for {
		m := c.read()
		if m.name == "ProtocolError" {
			wantField(t, m, "Code", "15")
			break
		}
	}
	c.send("ModifyPersistentRequest\nIdentifier=freesitemgr|site|sitemap.html\nGlobal=True\nPriorityClass=9\nEndMessage\n")
	wantField(t, c.expect("ProtocolError", "Code"), "Code", "8")

	// The change is kept with the queue.
	srv.Close()
	_, addr = startServer(t, Config{StateDir: dir})
	d := dialRaw(t, addr)
	d.hello()
	d.send("WatchGlobal\nEnabled=true\nEndMessage\nListPersistentRequests\nIdentifier=__global\nEndMessage\n")
	p = d.expect("PersistentPut", "PriorityClass", "ClientToken")
	wantField(t, p, "PriorityClass", "1")
	wantField(t, p, "ClientToken", "site-v2")
}
