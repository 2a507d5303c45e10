package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"golang.org/x/net/websocket"
)

// This file is a minimal client of the Chrome DevTools Protocol, enough to drive headless
// Chromium and record what it does: every request it makes, in every frame and worker, every
// script it compiles, every console message and every policy violation.

// cdpMessage is one message of the protocol: a command, its answer, or an event.
type cdpMessage struct {
	ID        int64           `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

type cdp struct {
	ws      *websocket.Conn
	onEvent func(cdpMessage) // called in the reading goroutine, one event at a time

	mu      sync.Mutex
	next    int64
	pending map[int64]chan cdpMessage // guarded by mu
	err     error                     // why reading stopped; guarded by mu
	done    chan struct{}             // closed when reading stops
}

func dialCDP(url string, onEvent func(cdpMessage)) (*cdp, error) {
	cfg, err := websocket.NewConfig(url, "http://127.0.0.1")
	if err != nil {
		return nil, err
	}
	ws, err := websocket.DialConfig(cfg)
	if err != nil {
		return nil, err
	}
	ws.MaxPayloadBytes = 256 << 20 // screenshots
	c := &cdp{ws: ws, onEvent: onEvent, pending: map[int64]chan cdpMessage{}, done: make(chan struct{})}
	go c.read()
	return c, nil
}

func (c *cdp) read() {
	defer close(c.done)
	for {
		var m cdpMessage
		if err := websocket.JSON.Receive(c.ws, &m); err != nil {
			c.mu.Lock()
			c.err = err
			for _, ch := range c.pending {
				close(ch)
			}
			c.pending = nil
			c.mu.Unlock()
			return
		}
		if m.ID != 0 {
			c.mu.Lock()
			ch := c.pending[m.ID]
			delete(c.pending, m.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- m
			}
			continue
		}
		if c.onEvent != nil {
			c.onEvent(m)
		}
	}
}

// call sends a command (to the browser, or to a session when session is not empty) and
// decodes its result into result, if not nil.
func (c *cdp) call(ctx context.Context, session, method string, params, result any) error {
	if params == nil {
		params = struct{}{}
	}
	p, err := json.Marshal(params)
	if err != nil {
		return err
	}
	ch := make(chan cdpMessage, 1)
	c.mu.Lock()
	if c.pending == nil {
		err := c.err
		c.mu.Unlock()
		return fmt.Errorf("devtools: connection closed: %w", err)
	}
	c.next++
	id := c.next
	c.pending[id] = ch
	c.mu.Unlock()
	if err := websocket.JSON.Send(c.ws, cdpMessage{ID: id, Method: method, Params: p, SessionID: session}); err != nil {
		return fmt.Errorf("devtools: send %s: %w", method, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return fmt.Errorf("devtools: %s: connection closed", method)
		}
		if m.Error != nil {
			return fmt.Errorf("devtools: %s: %s (%d)", method, m.Error.Message, m.Error.Code)
		}
		if result != nil {
			return json.Unmarshal(m.Result, result)
		}
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return fmt.Errorf("devtools: %s: %w", method, ctx.Err())
	}
}

func (c *cdp) close() {
	c.ws.Close()
	<-c.done
}
