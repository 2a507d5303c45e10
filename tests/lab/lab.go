//go:build linux

package lab

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// prefix begins the name of everything a lab makes: lab-PID-N-, where PID is the process
// that made it and N counts the labs of that process. With LAB_TAG set (say to the name of
// whoever runs it on a shared machine), names are lab-PID-N-TAG-…, so that they say whose
// they are.
const prefix = "lab-"

var labs atomic.Int64

// Lab is one lab: its namespaces, the internet that joins them, and the processes in them.
type Lab struct {
	tb   testing.TB
	name string // lab-PID-N
	dir  string // the lab's files: configurations, logs, node data

	internet *internet

	mu        sync.Mutex
	nss       []string // namespaces made, in order; guarded by mu
	procs     []*Proc  // processes started; guarded by mu
	publics   int      // public addresses given out; guarded by mu
	routers   int      // routers made; guarded by mu
	stun      *Host    // the STUN server's host, made with the first UPnP router; guarded by mu
	closers   []func() // run at Close, last first; guarded by mu
	tcp       string   // congestion control of hosts made from now on; guarded by mu
	closeOnce sync.Once
}

// New makes an empty lab (its internet running, no sites) and takes it down when the test
// ends. It skips the test where namespaces cannot be made (not root), and installs the tools
// the lab needs with apt-get where they are missing.
func New(tb testing.TB) *Lab {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("the network lab makes network namespaces, which needs root: run the test as root")
	}
	install(tb)
	removeStale(tb)
	name := fmt.Sprintf("%s%d-%d", prefix, os.Getpid(), labs.Add(1))
	if tag := os.Getenv("LAB_TAG"); tag != "" {
		name += "-" + tag
	}
	dir, err := os.MkdirTemp("", name+"-")
	if err != nil {
		tb.Fatal(err)
	}
	l := &Lab{tb: tb, name: name, dir: dir, tcp: "cubic"}
	if cc := os.Getenv("LAB_TCP"); cc != "" {
		l.tcp = cc
	}
	tb.Cleanup(l.Close)
	core := l.namespace("core")
	l.internet = startInternet(tb, l, core)
	return l
}

// SetTCP sets the TCP congestion control of the hosts made from now on. It is "cubic" by
// default, what the systems of most users run (Linux, Windows and macOS alike), whatever this
// machine's own setting; the environment variable LAB_TCP (like LAB_TCP=bbr) changes the
// default.
func (l *Lab) SetTCP(cc string) {
	l.mu.Lock()
	l.tcp = cc
	l.mu.Unlock()
}

// TCP is the congestion control of the hosts made from now on.
func (l *Lab) TCP() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tcp
}

// hostNamespace makes the namespace of a host, with the lab's TCP.
func (l *Lab) hostNamespace(short string) string {
	l.tb.Helper()
	ns := l.namespace(short)
	l.mu.Lock()
	cc := l.tcp
	l.mu.Unlock()
	allowTCP(l.tb, cc)
	l.sysctl(ns, "net.ipv4.tcp_congestion_control="+cc)
	return ns
}

// allowTCP lets namespaces other than the machine's own choose the congestion control cc:
// Linux lets them choose only those in the machine's net.ipv4.tcp_allowed_congestion_control.
// Adding one there changes nothing for the machine's own connections.
func allowTCP(tb testing.TB, cc string) {
	tb.Helper()
	const path = "/proc/sys/net/ipv4/tcp_allowed_congestion_control"
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	allowed := strings.Fields(string(b))
	if slices.Contains(allowed, cc) {
		return
	}
	if err := os.WriteFile(path, []byte(strings.Join(append(allowed, cc), " ")), 0o644); err != nil {
		tb.Fatalf("allow TCP congestion control %s in namespaces: %v", cc, err)
	}
}

// Dir is the lab's directory, removed when the lab is closed.
func (l *Lab) Dir() string { return l.dir }

// namespace makes a network namespace with its loopback up and returns its name.
func (l *Lab) namespace(short string) string {
	l.tb.Helper()
	ns := l.name + "-" + short
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		l.tb.Fatalf("ip netns add %s: %v: %s", ns, err, out)
	}
	l.mu.Lock()
	l.nss = append(l.nss, ns)
	l.mu.Unlock()
	l.ip(ns, "link set lo up")
	return ns
}

// nsPath is the file of a namespace, as setns and labnet take it.
func nsPath(ns string) string { return filepath.Join("/run/netns", ns) }

// ip runs ip commands in a namespace, one a line, in one process.
func (l *Lab) ip(ns string, cmds ...string) {
	l.tb.Helper()
	l.run(ns, strings.Join(cmds, "\n")+"\n", "ip", "-n", ns, "-batch", "-")
}

// nft loads an nftables ruleset into a namespace.
func (l *Lab) nft(ns, ruleset string) {
	l.tb.Helper()
	l.run(ns, ruleset, "ip", "netns", "exec", ns, "nft", "-f", "-")
}

// sysctl sets kernel settings of a namespace.
func (l *Lab) sysctl(ns string, settings ...string) {
	l.tb.Helper()
	l.run(ns, "", append([]string{"ip", "netns", "exec", ns, "sysctl", "-q", "-w"}, settings...)...)
}

// run runs a command to its end with stdin, failing the test with its output if it fails.
func (l *Lab) run(ns, stdin string, args ...string) string {
	l.tb.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		l.tb.Fatalf("in %s: %s: %v\n%s\n%s", ns, strings.Join(args, " "), err, stdin, out.String())
	}
	return out.String()
}

// output runs a command in a namespace and returns its standard output.
func (l *Lab) output(ns string, args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s in %s: %v: %s", strings.Join(args, " "), ns, err, stderr.String())
	}
	return string(out), nil
}

// publicAddr gives out the next public address: 198.18.0.2 onwards for hosts, 198.19.0.2
// onwards for routers' outsides, so that an address says what is behind it.
func (l *Lab) publicAddr(router bool) netip.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, second := &l.publics, byte(18)
	if router {
		n, second = &l.routers, 19
	}
	i := *n
	*n++
	return netip.AddrFrom4([4]byte{198, second, byte(i / 250), byte(2 + i%250)})
}

// Close takes the lab down: its processes (SIGTERM, then SIGKILL after 5 s), its internet,
// its namespaces and its directory. It is idempotent; the test's cleanup calls it.
func (l *Lab) Close() {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		procs, nss, closers := l.procs, l.nss, l.closers
		l.mu.Unlock()
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].Stop(5 * time.Second)
		}
		if l.internet != nil {
			l.internet.close()
		}
		for i := len(nss) - 1; i >= 0; i-- {
			removeNamespace(nss[i])
		}
		os.RemoveAll(l.dir)
	})
}

// onClose has f run when the lab closes, before its processes stop.
func (l *Lab) onClose(f func()) {
	l.mu.Lock()
	l.closers = append(l.closers, f)
	l.mu.Unlock()
}

// removeNamespace kills what still runs in a namespace (by PID) and deletes it.
func removeNamespace(ns string) {
	if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	exec.Command("ip", "netns", "del", ns).Run()
}
