//go:build linux

package lab

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"syscall"
	"time"
)

// The lab's measuring tools: what the link conditions really are, seen from the hosts.

// Echo answers every UDP packet to port on the host with the packet itself, until the lab
// closes.
func (h *Host) Echo(port uint16) error {
	c, err := h.ListenUDP(port)
	if err != nil {
		return err
	}
	h.lab.onClose(func() { c.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			c.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	return nil
}

// PingResult is what Ping saw: the round-trip times of the answers, and how many of the
// probes had none.
type PingResult struct {
	Sent int
	RTTs []time.Duration // sorted
	Lost int
}

// Median is the median round trip.
func (r PingResult) Median() time.Duration {
	if len(r.RTTs) == 0 {
		return 0
	}
	return r.RTTs[len(r.RTTs)/2]
}

func (r PingResult) String() string {
	if len(r.RTTs) == 0 {
		return fmt.Sprintf("%d probes, no answer", r.Sent)
	}
	return fmt.Sprintf("%d probes: RTT min %v, median %v, max %v; %d lost (%.2f%%)", r.Sent,
		r.RTTs[0].Round(10*time.Microsecond), r.Median().Round(10*time.Microsecond),
		r.RTTs[len(r.RTTs)-1].Round(10*time.Microsecond), r.Lost, 100*float64(r.Lost)/float64(r.Sent))
}

// Ping sends n UDP probes from the host to an Echo at to, one every interval, and waits for
// the last answer up to a second (plus the longest round trip seen).
func (h *Host) Ping(to netip.AddrPort, n int, interval time.Duration) (PingResult, error) {
	c, err := h.ListenUDP(0)
	if err != nil {
		return PingResult{}, err
	}
	defer c.Close()
	sent := make([]time.Time, n)
	got := make([]time.Duration, n)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		for {
			m, _, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if m == 8 {
				if i := binary.BigEndian.Uint64(buf); i < uint64(n) && got[i] == 0 {
					got[i] = time.Since(sent[i])
				}
			}
		}
	}()
	for i := range n {
		sent[i] = time.Now()
		if _, err := c.WriteToUDPAddrPort(binary.BigEndian.AppendUint64(nil, uint64(i)), to); err != nil {
			return PingResult{}, err
		}
		time.Sleep(interval)
	}
	time.Sleep(time.Second)
	c.SetReadDeadline(time.Now().Add(time.Second))
	<-done
	r := PingResult{Sent: n}
	for _, d := range got {
		if d == 0 {
			r.Lost++
		} else {
			r.RTTs = append(r.RTTs, d)
		}
	}
	slices.Sort(r.RTTs)
	return r, nil
}

// OneWayLoss sends n UDP packets from the host to port on the other host, at most 5 a
// millisecond, and counts those that arrive: the loss of one direction alone. The receiver's
// buffer holds them all, so that a slow reader loses none.
//
// What is measured is the loss of the link, and nothing the machine adds: the lab's internet
// is a user-space process, and on a busy machine it may not run for a tenth of a second,
// while the kernel's queue into it (the site's TUN device) holds 500 packets and drops the
// rest. So the sender waits, every lossBatch packets, until the internet has read what was
// sent, and the count is taken once the internet has handled every packet and the receiver
// has read all it delivered, however long the machine makes that take. A packet dropped at
// the TUN device or at the internet's own queue is the machine's fault, not the link's: the
// measurement fails naming it rather than counting it as the link's loss.
func (h *Host) OneWayLoss(to *Host, port uint16, n int) (received int, err error) {
	const lossBatch = 100 // packets in flight towards the internet: a fifth of the TUN queue
	deadline := time.Now().Add(time.Minute + time.Duration(n)*time.Millisecond)
	site, siteNS := h.site()
	rc, err := to.ListenUDP(port)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	forceReadBuffer(rc, n*1024)
	sc, err := h.ListenUDP(0)
	if err != nil {
		return 0, err
	}
	defer sc.Close()
	var got atomic.Int64
	counted := make(chan struct{})
	go func() {
		defer close(counted)
		seen := make(map[uint64]bool, n)
		buf := make([]byte, 64)
		for {
			m, _, err := rc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if i := binary.BigEndian.Uint64(buf); m == 8 && i < uint64(n) && !seen[i] {
				seen[i] = true
				got.Add(1)
			}
		}
	}()
	dropsBefore, err := h.lab.tunDrops(siteNS)
	if err != nil {
		return 0, err
	}
	before, err := h.lab.siteStats(site)
	if err != nil {
		return 0, err
	}
	// machine names the packets the machine dropped rather than the link, if any.
	machine := func(st SiteStats) error {
		drops, err := h.lab.tunDrops(siteNS)
		switch {
		case err != nil:
			return err
		case drops > dropsBefore:
			return fmt.Errorf("one-way loss: %d packets dropped entering the lab's internet (its TUN queue was full): the machine, not the link", drops-dropsBefore)
		case st.Overflow > 0:
			return fmt.Errorf("one-way loss: %d packets dropped for the internet's full queue: the machine, not the link", st.Overflow)
		}
		return nil
	}
	// until waits for the internet's counters of the site to satisfy done, and looks for
	// drops every second it waits.
	until := func(what string, done func(SiteStats) bool) (SiteStats, error) {
		for look := time.Now().Add(time.Second); ; {
			st, err := h.lab.siteStats(site)
			if err != nil {
				return SiteStats{}, err
			}
			if st = st.minus(before); done(st) {
				return st, nil
			}
			if time.Now().After(look) {
				if err := machine(st); err != nil {
					return SiteStats{}, err
				}
				look = time.Now().Add(time.Second)
			}
			if time.Now().After(deadline) {
				return SiteStats{}, fmt.Errorf("one-way loss: the lab's internet has not %s in time (%+v)", what, st)
			}
			time.Sleep(time.Millisecond)
		}
	}
	dst := netip.AddrPortFrom(to.Addr, port)
	for i := range n {
		if _, err := sc.WriteToUDPAddrPort(binary.BigEndian.AppendUint64(nil, uint64(i)), dst); err != nil {
			return 0, err
		}
		if i%5 == 4 {
			time.Sleep(time.Millisecond)
		}
		if sent := int64(i + 1); sent%lossBatch == 0 {
			if _, err := until("read what was sent", func(st SiteStats) bool { return st.Sent >= sent-lossBatch/2 }); err != nil {
				return 0, err
			}
		}
	}
	st, err := until("handled every packet", func(st SiteStats) bool {
		return st.Delivered+st.Lost+st.Overflow+st.Unroutable >= int64(n)
	})
	if err != nil {
		return 0, err
	}
	for got.Load() < st.Delivered && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	rc.SetReadDeadline(time.Now())
	<-counted
	if err := machine(st); err != nil {
		return 0, err
	}
	if got.Load() < st.Delivered {
		return 0, fmt.Errorf("one-way loss: the internet delivered %d packets, the receiver read %d", st.Delivered, got.Load())
	}
	return int(got.Load()), nil
}

// site is the internet's name of the host's site and the namespace that holds its TUN
// device: the host's own, or its router's.
func (h *Host) site() (name, ns string) {
	if h.Router != nil {
		return h.Router.Name, h.Router.NS
	}
	return h.Name, h.NS
}

// siteStats returns the internet's counters of one site.
func (l *Lab) siteStats(site string) (SiteStats, error) {
	st, err := l.Stats()
	if err != nil {
		return SiteStats{}, err
	}
	s, ok := st[site]
	if !ok {
		return SiteStats{}, fmt.Errorf("the lab's internet has no site %s", site)
	}
	return s, nil
}

// tunDrops is the number of packets the kernel dropped at the namespace's TUN device because
// the internet had not read the ones before.
func (l *Lab) tunDrops(ns string) (int64, error) {
	out, err := l.output(ns, "cat", "/sys/class/net/wan0/statistics/tx_dropped")
	if err != nil {
		return 0, err
	}
	var n int64
	if _, err := fmt.Sscan(out, &n); err != nil {
		return 0, fmt.Errorf("TUN drops in %s: %q: %w", ns, out, err)
	}
	return n, nil
}

// Throughput sends size bytes over one TCP connection from the host to port on the other
// host and returns the rate the receiver saw, from the connection's start to the last byte.
func (h *Host) Throughput(to *Host, port uint16, size int64, within time.Duration) (bytesPerSecond float64, err error) {
	ln, err := to.Listen(port)
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	type result struct {
		n   int64
		d   time.Duration
		err error
	}
	res := make(chan result, 1)
	start := time.Now()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			res <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(start.Add(within))
		n, err := io.Copy(io.Discard, c)
		res <- result{n, time.Since(start), err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	c, err := h.DialContext(ctx, "tcp4", netip.AddrPortFrom(to.Addr, port).String())
	if err != nil {
		return 0, err
	}
	c.SetDeadline(start.Add(within))
	buf := make([]byte, 256<<10)
	var sent int64
	for sent < size && err == nil {
		var n int
		n, err = c.Write(buf[:min(int64(len(buf)), size-sent)])
		sent += int64(n)
	}
	c.Close()
	if err != nil {
		return 0, fmt.Errorf("send: %w", err)
	}
	r := <-res
	if r.err != nil {
		return 0, fmt.Errorf("receive: %w", r.err)
	}
	if r.n != size {
		return 0, errors.New("the receiver got less than was sent")
	}
	return float64(size) / r.d.Seconds(), nil
}

// forceReadBuffer sets a socket's receive buffer to size bytes past the namespace's
// net.core.rmem_max (SO_RCVBUFFORCE, as root), so that a measuring receiver that falls behind
// for a moment loses nothing it would count as the link's loss.
func forceReadBuffer(c *net.UDPConn, size int) {
	if rc, err := c.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, size) })
	}
}
