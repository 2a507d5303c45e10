package fcp

import (
	"fmt"
	"os"

	"lethe/private"
)

// clientRequest starts a ClientPut, ClientPutComplexDir or ClientGet. A connection ClientPut
// streams its data to the Backend while the read loop waits; a site's files, and the data of
// any persistent request, which must outlive the connection, are first taken into a spool.
func (c *conn) clientRequest(m *Message) {
	r, err := c.srv.parse(m)
	if err != nil {
		c.fieldError(m, err)
		return
	}
	for _, p := range r.diskPaths {
		if !c.mayRead(p) {
			c.protocolError(CodeDiskAccessDenied, m.Name+": "+truncate(p, 200)+" is not in a directory this connection proved it can read (TestDDARequest)", r.name(), false, r.common.global)
			return
		}
		if _, err := os.Stat(p); err != nil {
			c.protocolError(CodeFileNotFound, m.Name+": "+truncate(p, 200)+": "+err.Error(), r.name(), false, r.common.global)
			return
		}
	}
	if r.diskTarget != "" {
		if r.diskRoot = c.mayWrite(r.diskTarget); r.diskRoot == "" {
			c.protocolError(CodeDiskAccessDenied, m.Name+": "+truncate(r.diskTarget, 200)+" is not in a directory this connection proved it can write (TestDDARequest)", r.name(), false, r.common.global)
			return
		}
		if _, err := os.Lstat(r.diskTarget); err == nil {
			c.protocolError(CodeDiskAccessDenied, m.Name+": "+truncate(r.diskTarget, 200)+" is there already: the node writes only a new file", r.name(), false, r.common.global)
			return
		}
	}
	if r.persistent() {
		c.startPersistent(r)
		return
	}
	if !c.admit(r) {
		return
	}
	switch r.kind {
	case kindPut:
		r.body = newBodyReader(c.r)
		c.launch(r)
		r.body.detach()
	case kindPutDir:
		if !c.takeData(r) {
			c.mu.Lock()
			delete(c.reqs, r.name())
			c.mu.Unlock()
			return
		}
		c.launch(r)
	default:
		c.launch(r)
	}
}

// takeData reads the message's data into the request's spool (kept in the StateDir for a
// persistent request).
func (c *conn) takeData(r *request) bool {
	if !r.msg.HasData {
		return true
	}
	sp, err := newSpool(c.r.Data(), c.r.Pending(), r.spoolDir(), c.srv.cfg.TempDir)
	if err != nil {
		if c.r.Pending() == 0 { // the data arrived; keeping it failed
			c.protocolError(CodeInternal, err.Error(), r.name(), false, r.common.global)
		}
		c.srv.log.Debug("fcp: reading a request's data failed", "err", private.Error{Err: err})
		return false
	}
	r.input = sp
	return true
}

// startPersistent puts a request on its persistent queue and starts it.
func (c *conn) startPersistent(r *request) {
	r.conn = c
	r.owner = owner{global: r.common.global}
	if !r.common.global {
		r.owner.name = c.clientName()
	}
	r.startup = c.srv.cfg.Now()
	if c.srv.queue.has(r.owner, r.name()) {
		c.send(r.header("IdentifierCollision"), nil)
		return
	}
	if !c.takeData(r) {
		return
	}
	if err := c.srv.queue.add(r); err != nil {
		r.input.remove()
		if err == errQueueCollision {
			c.send(r.header("IdentifierCollision"), nil)
		} else {
			c.protocolError(CodeInternal, err.Error(), r.name(), false, r.common.global)
		}
		return
	}
	c.srv.queue.start(r)
}

// admit registers a connection request under its Identifier, or answers IdentifierCollision
// when one is still running on this connection (or on the client's own persistent queue).
func (c *conn) admit(r *request) bool {
	r.conn = c
	r.startup = c.srv.cfg.Now()
	c.mu.Lock()
	_, running := c.reqs[r.name()]
	full := len(c.reqs) >= c.srv.cfg.MaxRequestsPerConn
	name := c.name
	if !running && !full {
		c.reqs[r.name()] = r
	}
	c.mu.Unlock()
	switch {
	case running || c.srv.queue.has(owner{name: name}, r.name()):
		if !running {
			c.mu.Lock()
			delete(c.reqs, r.name())
			c.mu.Unlock()
		}
		c.send(r.header("IdentifierCollision"), nil)
		return false
	case full:
		c.protocolError(CodeInternal, fmt.Sprintf("too many requests running on this connection (limit %d)", c.srv.cfg.MaxRequestsPerConn), r.name(), false, r.common.global)
		return false
	}
	return true
}

// launch runs a connection request in a goroutine that ends with the connection.
func (c *conn) launch(r *request) {
	ctx, cancel := r.begin(c.session(r.common.session))
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer cancel(nil)
		r.run(ctx, r)
	}()
}

// lookup finds a request by Identifier: on the global queue when global, else on this
// connection or the client's own persistent queue.
func (c *conn) lookup(id string, global bool) *request {
	if global {
		return c.srv.queue.get(owner{global: true}, id)
	}
	c.mu.Lock()
	r := c.reqs[id]
	name := c.name
	c.mu.Unlock()
	if r != nil {
		return r
	}
	return c.srv.queue.get(owner{name: name}, id)
}

// lookupField finds the request a GetRequestStatus or RemovePersistentRequest names by its
// Identifier and Global fields, or answers with a ProtocolError and returns nil.
func (c *conn) lookupField(m *Message) *request {
	id, err := requiredField(m, "Identifier")
	if err != nil {
		c.fieldError(m, err)
		return nil
	}
	global, err := boolField(m, "Global", false)
	if err != nil {
		c.fieldError(m, err)
		return nil
	}
	r := c.lookup(id, global)
	if r == nil {
		c.protocolError(CodeNoSuchIdentifier, "", id, false, global)
	}
	return r
}

// requestStatus answers GetRequestStatus: the request's state and, for a finished direct
// fetch on a persistent queue, its data (AllData).
func (c *conn) requestStatus(m *Message) {
	r := c.lookupField(m)
	if r == nil {
		return
	}
	onlyData, err := boolField(m, "OnlyData", false)
	if err != nil {
		c.fieldError(m, err)
		return
	}
	if !onlyData {
		for _, msg := range r.status(false) {
			if c.send(msg, nil) != nil {
				return
			}
		}
	}
	r.mu.Lock()
	sp := r.result
	r.mu.Unlock()
	if sp != nil && sp.acquire() {
		c.send(r.allData(sp), sp.reader())
		sp.release()
	}
}

// removeRequest answers RemovePersistentRequest: the request is cancelled, forgotten with
// its data, and PersistentRequestRemoved confirms it.
func (c *conn) removeRequest(m *Message) {
	r := c.lookupField(m)
	if r == nil {
		return
	}
	id := r.name()
	removed := r.header("PersistentRequestRemoved")
	if r.persistent() {
		targets := r.targets()
		c.srv.queue.remove(r)
		for _, t := range targets {
			if t != c {
				t.send(removed, nil)
			}
		}
	} else {
		c.mu.Lock()
		delete(c.reqs, id)
		c.mu.Unlock()
		r.stop(errRemoved)
	}
	c.send(removed, nil)
}

// modifyRequest answers ModifyPersistentRequest (spec §16.8): a request's ClientToken and
// PriorityClass change, as its Persistent* message and the saved queue show them, and
// PersistentRequestModified confirms it to the sender and the queue's watchers. The change
// does not reach a transfer already running: Lethe's transfers have no priorities yet.
func (c *conn) modifyRequest(m *Message) {
	r := c.lookupField(m)
	if r == nil {
		return
	}
	if !r.persistent() {
		c.protocolError(CodeNoSuchIdentifier, "ModifyPersistentRequest: "+r.name()+" is not on a persistent queue", r.name(), false, r.common.global)
		return
	}
	r.mu.Lock()
	current := r.msg
	r.mu.Unlock()
	old, _ := boundedInt(current, "PriorityClass", 2, 0, 6)
	priority, err := boundedInt(m, "PriorityClass", old, 0, 6)
	if err != nil {
		c.fieldError(m, err)
		return
	}
	token, hasToken := m.Get("ClientToken")
	changed := &Message{Name: current.Name, HasData: current.HasData}
	for _, f := range current.Fields {
		if f.Key != "PriorityClass" && !(hasToken && f.Key == "ClientToken") {
			changed.Fields = append(changed.Fields, f)
		}
	}
	changed.SetInt("PriorityClass", priority)
	if hasToken {
		changed.Set("ClientToken", token)
	}
	r.mu.Lock()
	r.msg = changed
	r.mu.Unlock()
	if r.durable() {
		c.srv.queue.save()
	}
	reply := r.header("PersistentRequestModified").SetInt("PriorityClass", priority)
	if t, ok := changed.Get("ClientToken"); ok {
		reply.Set("ClientToken", t)
	}
	for _, t := range r.targets() {
		if t != c {
			t.send(reply, nil)
		}
	}
	c.send(reply, nil)
}
