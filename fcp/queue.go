package fcp

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"lethe/private"
)

// queueFile is the name of the persistent queue's state inside Config.StateDir.
const queueFile = "fcp-queue.json"

// queueVersion is the format version of queueFile (spec §16.8).
const queueVersion = 1

var (
	errQueueCollision = errors.New("identifier already on the queue")
	errQueueFull      = errors.New("the persistent queue is full")
)

// queue holds the requests with Persistence=reboot or forever: the global queue and one
// queue per client name. They run independently of any connection, and stay (finished or not)
// until a client removes them. With a directory, the queue is written to queueFile after
// every change and read back at the next start; without one it lives as long as the server.
type queue struct {
	srv *Server
	dir string

	saveMu sync.Mutex // serialises save; taken before mu

	mu    sync.Mutex // guards reqs and order
	reqs  map[queueKey]*request
	order []*request // in the order they were added, for listing
}

type queueKey struct {
	owner owner
	id    string
}

// savedQueue is the JSON form of queueFile.
type savedQueue struct {
	Version  int            `json:"version"`
	Requests []savedRequest `json:"requests"`
}

type savedRequest struct {
	Global     bool           `json:"global"`
	Client     string         `json:"client,omitempty"` // owner of a non-global request
	Request    savedMessage   `json:"request"`          // the message as received
	Startup    int64          `json:"startup"`          // Unix milliseconds
	Completion int64          `json:"completion,omitempty"`
	Done       bool           `json:"done"`
	Generated  string         `json:"generated,omitempty"`
	Terminal   []savedMessage `json:"terminal,omitempty"`
	Input      string         `json:"input,omitempty"`  // data file of an insert
	Result     string         `json:"result,omitempty"` // data file of a finished fetch
}

type savedMessage struct {
	Name    string      `json:"name"`
	Fields  [][2]string `json:"fields"`
	HasData bool        `json:"hasData,omitempty"`
}

func saveMessage(m *Message) savedMessage {
	sm := savedMessage{Name: m.Name, Fields: make([][2]string, len(m.Fields)), HasData: m.HasData}
	for i, f := range m.Fields {
		sm.Fields[i] = [2]string{f.Key, f.Value}
	}
	return sm
}

func (sm savedMessage) message() *Message {
	m := &Message{Name: sm.Name, Fields: make([]Field, len(sm.Fields)), HasData: sm.HasData}
	for i, f := range sm.Fields {
		m.Fields[i] = Field{f[0], f[1]}
	}
	return m
}

// openQueue reads the queue kept in dir, if any. Requests that cannot be restored (their data
// file is gone, their message no longer parses) are dropped with a warning.
func openQueue(s *Server, dir string) (*queue, error) {
	q := &queue{srv: s, dir: dir, reqs: map[queueKey]*request{}}
	if dir == "" {
		return q, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("fcp: state directory: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, queueFile))
	if errors.Is(err, os.ErrNotExist) {
		return q, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fcp: read queue: %w", err)
	}
	var sq savedQueue
	if err := json.Unmarshal(b, &sq); err != nil {
		return nil, fmt.Errorf("fcp: read queue %s: %w", filepath.Join(dir, queueFile), err)
	}
	if sq.Version != queueVersion {
		return nil, fmt.Errorf("fcp: queue %s has format version %d, this node reads %d", filepath.Join(dir, queueFile), sq.Version, queueVersion)
	}
	for _, sr := range sq.Requests {
		r, err := q.restore(sr)
		if err != nil {
			// Not its Identifier: clients put names in them (freesitemgr's name the site
			// and the file), and a log must not (spec §19.10).
			s.log.Warn("fcp: dropping a queued request that cannot be restored", "err", private.Error{Err: err})
			continue
		}
		key := queueKey{r.owner, r.name()}
		if q.reqs[key] == nil {
			q.reqs[key] = r
			q.order = append(q.order, r)
		}
	}
	return q, nil
}

func (sr savedRequest) identifier() string {
	return sr.Request.message().Value("Identifier")
}

func (q *queue) restore(sr savedRequest) (*request, error) {
	m := sr.Request.message()
	r, err := q.srv.parse(m)
	if err != nil {
		return nil, err
	}
	r.owner = owner{global: sr.Global, name: sr.Client}
	r.startup = time.UnixMilli(sr.Startup)
	r.completion = time.UnixMilli(sr.Completion)
	r.done = sr.Done
	r.generated = sr.Generated
	r.sentURI = sr.Generated != ""
	for _, t := range sr.Terminal {
		r.terminal = append(r.terminal, t.message())
	}
	if sr.Input != "" && !sr.Done {
		if r.input, err = openSpool(q.dir, sr.Input); err != nil {
			return nil, fmt.Errorf("its data: %w", err)
		}
	}
	if r.kind != kindGet && m.HasData && !sr.Done && r.input == nil {
		return nil, errors.New("its data was not kept")
	}
	if sr.Result != "" {
		if r.result, err = openSpool(q.dir, sr.Result); err != nil {
			q.srv.log.Warn("fcp: a finished fetch's data is gone", "err", private.Error{Err: err})
			r.result = nil
		}
	}
	return r, nil
}

// parse reads a request message of any of the three kinds.
func (s *Server) parse(m *Message) (*request, error) {
	switch m.Name {
	case "ClientPut":
		return s.parsePut(m)
	case "ClientPutComplexDir":
		return s.parsePutDir(m)
	case "ClientPutDiskDir":
		return s.parsePutDiskDir(m)
	case "ClientGet":
		return s.parseGet(m)
	}
	return nil, fmt.Errorf("%q is not a request", m.Name)
}

func (q *queue) has(o owner, id string) bool { return q.get(o, id) != nil }

func (q *queue) get(o owner, id string) *request {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.reqs[queueKey{o, id}]
}

// add puts r on its queue and records the queue.
func (q *queue) add(r *request) error {
	q.mu.Lock()
	key := queueKey{r.owner, r.name()}
	switch {
	case q.reqs[key] != nil:
		q.mu.Unlock()
		return errQueueCollision
	case len(q.reqs) >= q.srv.cfg.MaxPersistentRequests:
		q.mu.Unlock()
		return fmt.Errorf("%w (limit %d requests); remove finished ones with RemovePersistentRequest", errQueueFull, q.srv.cfg.MaxPersistentRequests)
	}
	q.reqs[key] = r
	q.order = append(q.order, r)
	q.mu.Unlock()
	q.save()
	return nil
}

// remove takes r off its queue, cancels it if it runs, and deletes its data.
func (q *queue) remove(r *request) {
	q.mu.Lock()
	key := queueKey{r.owner, r.name()}
	if q.reqs[key] == r {
		delete(q.reqs, key)
		for i, o := range q.order {
			if o == r {
				q.order = append(q.order[:i], q.order[i+1:]...)
				break
			}
		}
	}
	q.mu.Unlock()
	r.stop(errRemoved)
	r.mu.Lock()
	r.removed = true
	input, result := r.input, r.result
	r.input, r.result = nil, nil
	r.mu.Unlock()
	input.remove()
	result.remove()
	q.save()
}

// waiting reports whether any request of o's queue has not ended: a connection of o's
// client waits for its end.
func (q *queue) waiting(o owner) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, r := range q.order {
		if r.owner == o {
			r.mu.Lock()
			done := r.done
			r.mu.Unlock()
			if !done {
				return true
			}
		}
	}
	return false
}

// start runs a queued request on the server's context, so that it outlives its connection.
func (q *queue) start(r *request) {
	ctx, cancel := r.begin(q.srv.ctx)
	if !q.srv.spawn(func() {
		defer cancel(nil)
		r.run(ctx, r)
	}) {
		cancel(errServerClosing)
	}
}

// resume starts the requests a previous run left unfinished.
func (q *queue) resume() {
	q.mu.Lock()
	var todo []*request
	for _, r := range q.order {
		if !r.done && !r.running() {
			todo = append(todo, r)
		}
	}
	q.mu.Unlock()
	for _, r := range todo {
		q.srv.log.Info("fcp: resuming a queued request", "kind", map[kind]string{kindPut: "put", kindPutDir: "site put", kindGet: "get"}[r.kind])
		q.start(r)
	}
}

// list answers ListPersistentRequests: every request on the client's own queue, and on the
// global queue if the connection watches it, then EndListPersistentRequests.
func (q *queue) list(c *conn, id string) {
	mine := owner{name: c.clientName()}
	global := c.watchGlobal.Load()
	q.mu.Lock()
	var rs []*request
	for _, r := range q.order {
		if r.owner == mine || global && r.owner.global {
			rs = append(rs, r)
		}
	}
	q.mu.Unlock()
	for _, r := range rs {
		for _, m := range r.status(false) {
			if c.send(m, nil) != nil {
				return
			}
		}
	}
	end := NewMessage("EndListPersistentRequests")
	if id != "" {
		end.Set("Identifier", id)
	}
	c.send(end, nil)
}

// save writes the queue to its file, atomically (a new file renamed over the old).
func (q *queue) save() {
	if q.dir == "" {
		return
	}
	q.saveMu.Lock()
	defer q.saveMu.Unlock()
	q.mu.Lock()
	sq := savedQueue{Version: queueVersion, Requests: make([]savedRequest, 0, len(q.order))}
	for _, r := range q.order {
		if r.durable() {
			sq.Requests = append(sq.Requests, r.saved())
		}
	}
	q.mu.Unlock()
	b, err := json.MarshalIndent(sq, "", "\t")
	if err == nil {
		err = writeFileAtomic(filepath.Join(q.dir, queueFile), b)
	}
	if err != nil {
		q.srv.log.Error("fcp: cannot record the persistent queue", "err", private.Error{Err: err})
	}
}

func (r *request) saved() savedRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	sr := savedRequest{
		Global:    r.owner.global,
		Client:    r.owner.name,
		Request:   saveMessage(r.msg),
		Startup:   r.startup.UnixMilli(),
		Done:      r.done,
		Generated: r.generated,
		Input:     r.input.name(),
		Result:    r.result.name(),
	}
	if r.done {
		sr.Completion = r.completion.UnixMilli()
	}
	for _, t := range r.terminal {
		sr.Terminal = append(sr.Terminal, saveMessage(t))
	}
	return sr
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	return err
}
