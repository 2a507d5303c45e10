package browsertest

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// Record is what the browser did, in every tab and in every frame and worker a page
// started, since it started or since Reset.
type Record struct {
	Requests   []string       // the URL of every request, WebSockets included
	Documents  map[string]int // the status of each document loaded, by URL
	Scripts    []string       // scripts compiled: any at all means a page could run one
	Console    []string       // console messages, exceptions, dialogs
	Violations []string       // policy violations and other security messages
	Targets    []string       // frames and workers that were attached besides the tabs
}

// recorder keeps the Record from the DevTools events of every target it attached.
type recorder struct {
	mu     sync.Mutex
	rec    Record                   // guarded by mu
	loaded map[string]chan struct{} // each tab's load events, by session; guarded by mu
}

func newRecorder() *recorder {
	return &recorder{rec: Record{Documents: map[string]int{}}, loaded: map[string]chan struct{}{}}
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rec = Record{Documents: map[string]int{}}
}

func (r *recorder) snapshot() Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Record{
		Requests: slices.Clone(r.rec.Requests), Documents: maps.Clone(r.rec.Documents),
		Scripts: slices.Clone(r.rec.Scripts), Console: slices.Clone(r.rec.Console),
		Violations: slices.Clone(r.rec.Violations), Targets: slices.Clone(r.rec.Targets),
	}
}

func (r *recorder) add(list *[]string, s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*list = append(*list, s)
}

// event records one DevTools event; attach is called for every new target, to enable the
// same recording there before it runs.
func (r *recorder) event(m cdpMessage, attach func(session string)) {
	switch m.Method {
	case "Network.requestWillBeSent":
		var p struct {
			Request struct{ URL string } `json:"request"`
		}
		json.Unmarshal(m.Params, &p)
		r.add(&r.rec.Requests, p.Request.URL)
	case "Network.webSocketCreated":
		var p struct{ URL string }
		json.Unmarshal(m.Params, &p)
		r.add(&r.rec.Requests, p.URL)
	case "Network.responseReceived":
		var p struct {
			Type     string
			Response struct {
				URL    string
				Status int
			}
		}
		json.Unmarshal(m.Params, &p)
		if p.Type == "Document" {
			r.mu.Lock()
			r.rec.Documents[p.Response.URL] = p.Response.Status
			r.mu.Unlock()
		}
	case "Debugger.scriptParsed":
		var p struct {
			URL      string
			ScriptID string `json:"scriptId"`
			Length   int
		}
		json.Unmarshal(m.Params, &p)
		r.add(&r.rec.Scripts, fmt.Sprintf("script %s (%d chars) at %q", p.ScriptID, p.Length, p.URL))
	case "Runtime.consoleAPICalled", "Runtime.exceptionThrown", "Page.javascriptDialogOpening":
		r.add(&r.rec.Console, m.Method+" "+string(m.Params))
	case "Log.entryAdded":
		var p struct {
			Entry struct{ Source, Level, Text, URL string }
		}
		json.Unmarshal(m.Params, &p)
		if p.Entry.Source == "security" || strings.Contains(p.Entry.Text, "Content Security Policy") {
			r.add(&r.rec.Violations, p.Entry.Text)
		}
	case "Target.attachedToTarget":
		var p struct {
			SessionID  string `json:"sessionId"`
			TargetInfo struct{ Type, URL string }
		}
		json.Unmarshal(m.Params, &p)
		r.add(&r.rec.Targets, p.TargetInfo.Type+" "+p.TargetInfo.URL)
		go attach(p.SessionID)
	case "Page.loadEventFired":
		r.mu.Lock()
		ch := r.loaded[m.SessionID]
		r.mu.Unlock()
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
