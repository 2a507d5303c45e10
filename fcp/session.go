package fcp

import (
	"context"

	"lethe/session"
)

// Sessions of a connection (spec §16.5). A client marks the requests that belong together,
// such as the nodes of one index search, with the same Session field; the server runs them
// in one session of package session, so that the node gives their blocks one stem and one
// set of tunnels (spec §18.2, §18.11.3) as it does for the blocks of one download. The name
// is the client's; the session is the node's own, drawn at random, and never leaves it.

// maxSessions bounds the names one connection keeps: past it they are forgotten, and a
// request naming one starts a new session, as a request naming none does.
const maxSessions = 64

// session returns the context a request of the named session runs under: the connection's,
// marked with the session of that name, made on first use. The empty name is no session:
// the Backend starts one for the request alone.
func (c *conn) session(name string) context.Context {
	if name == "" {
		return c.ctx
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ctx, ok := c.sessions[name]; ok {
		return ctx
	}
	if c.sessions == nil || len(c.sessions) >= maxSessions {
		c.sessions = map[string]context.Context{}
	}
	ctx := session.Start(c.ctx)
	c.sessions[name] = ctx
	return ctx
}
