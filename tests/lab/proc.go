//go:build linux

package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Proc is a process the lab runs in one of its namespaces, its output in a log file.
type Proc struct {
	Name string
	Log  string // path of its standard output and error

	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has been waited for
	err    error         // cmd's end; set before exited closes
}

// start runs args in namespace ns. The process dies with the test binary (Pdeathsig), even
// when the binary is killed before its cleanups run; the lab stops it when it closes.
func (l *Lab) start(ns, name string, args ...string) *Proc {
	l.tb.Helper()
	p := &Proc{Name: name, Log: filepath.Join(l.dir, name+".log"), exited: make(chan struct{})}
	logf, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		l.tb.Fatal(err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "--- %s %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		l.tb.Fatalf("start %s in %s: %v", name, ns, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	return p
}

// Running reports whether the process has not exited.
func (p *Proc) Running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Exited is closed when the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Err is how the process ended, once Exited is closed.
func (p *Proc) Err() error { <-p.exited; return p.err }

// PID is the process's ID (`ip netns exec` runs the command in its own place).
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) { p.cmd.Process.Signal(sig) }

// Stop ends the process with SIGTERM and, if it has not exited within grace, SIGKILL. It
// reports whether the process ended within grace.
func (p *Proc) Stop(grace time.Duration) bool {
	if !p.Running() {
		return true
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return true
	case <-time.After(grace):
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
		return false
	}
}

// Tail is the end of the process's log, for failure messages.
func (p *Proc) Tail(n int) string {
	b, _ := os.ReadFile(p.Log)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
