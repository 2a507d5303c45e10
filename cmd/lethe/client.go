package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"lethe/crypto"
	"lethe/fcp"
)

const defaultFCP = fcp.DefaultAddr

// fcpAddr is the node address a client command uses: --fcp, $LETHE_FCP, or the default.
func fcpAddr(e *env, flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if a := e.getenv("LETHE_FCP"); a != "" {
		return a
	}
	return defaultFCP
}

// dialNode connects to a node's client protocol and says hello, or explains that no node
// answers.
func dialNode(ctx context.Context, addr string) (*fcp.Client, error) {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := fcp.Dial(dctx, addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fail(exitNoNode, "start a node with `lethe node` (or `lethe testnet` to try Lethe on this machine), or point --fcp or $LETHE_FCP at a running one",
			"no Lethe node answers at %s", addr)
	}
	if _, err := c.Hello(dctx, fmt.Sprintf("lethe-cli-%d", os.Getpid())); err != nil {
		c.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fail(exitNoNode, "is that port a Lethe (or Freenet) node's client protocol?", "%s does not speak the client protocol: %v", addr, err)
	}
	return c, nil
}

// networkError turns a failed request into the command's error: the node's explanation,
// and a hint for the outcomes a user can act on.
func networkError(what string, err error) error {
	var pe *fcp.ProtocolError
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, fcp.ErrClientClosed):
		return fail(exitNoNode, "the node stopped or the connection broke; start it again and retry", "%s: the node closed the connection", what)
	case errors.Is(err, fcp.ErrDataNotFound), errors.Is(err, fcp.ErrAllDataNotFound):
		return fail(exitFailed, "check the key; if it was inserted moments ago elsewhere, or the node has just started and has few peers, try again shortly", "%s: %v", what, err)
	case errors.Is(err, fcp.ErrRouteNotFound):
		return fail(exitFailed, "the node has too few peers: `lethe status` shows them; add friends with `lethe peers add`", "%s: %v", what, err)
	case errors.Is(err, fcp.ErrOverloaded):
		return fail(exitFailed, "the nodes asked are busy; try again in a minute", "%s: %v", what, err)
	case errors.As(err, &pe) && (pe.Code == fcp.CodeURIParse || pe.Code == fcp.CodeInvalidField):
		return fail(exitUsage, "", "%s: %v", what, err)
	}
	return fail(exitFailed, "", "%s: %v", what, err)
}

// parseURIArg reads a request URI from the command line.
func parseURIArg(name, s string) (crypto.RequestURI, error) {
	u, err := crypto.ParseURI(strings.TrimSpace(s))
	if err != nil {
		return crypto.RequestURI{}, fail(exitUsage, "a key looks like CHK@…,…,…/name or USK@…/site/3/; copy it whole", "%q is not a Lethe URI: %v", truncate(s, 60), err)
	}
	return u, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// progressBar reports a transfer on stderr: a bar redrawn in place on a terminal, plain
// lines (at most one every two seconds, and at the end) when stderr is a file or a pipe.
type progressBar struct {
	w     io.Writer
	tty   bool
	label string
	start time.Time

	mu       sync.Mutex
	last     time.Time // guarded by mu
	lastLine string    // guarded by mu
	drawn    bool      // guarded by mu
}

func newProgressBar(w io.Writer, label string) *progressBar {
	return &progressBar{w: w, tty: isTerminal(w), label: label, start: time.Now()}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// update shows done of total blocks.
func (p *progressBar) update(done, total int, final bool) {
	if total <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if !final && now.Sub(p.last) < p.interval() {
		return
	}
	p.last = now
	pct := 100 * done / total
	if p.tty {
		const width = 30
		fill := width * done / total
		bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
		fmt.Fprintf(p.w, "\r%s [%s] %3d%% %d/%d blocks %s", p.label, bar, pct, done, total, elapsed(now.Sub(p.start)))
		p.drawn = true
		return
	}
	line := fmt.Sprintf("%s: %d%% (%d/%d blocks)", p.label, pct, done, total)
	if line != p.lastLine {
		fmt.Fprintln(p.w, line)
		p.lastLine = line
	}
}

func (p *progressBar) interval() time.Duration {
	if p.tty {
		return 100 * time.Millisecond
	}
	return 2 * time.Second
}

// done ends the bar's line on a terminal.
func (p *progressBar) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

func elapsed(d time.Duration) string {
	return d.Round(100 * time.Millisecond).String()
}
