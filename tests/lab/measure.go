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

// OneWayLoss sends n UDP packets from the host to port on the other host, 5 a millisecond,
// and counts those that arrive: the loss of one direction alone. The receiver's buffer holds
// them all, so that a slow reader loses none.
func (h *Host) OneWayLoss(to *Host, port uint16, n int) (received int, err error) {
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
	counted := make(chan int)
	go func() {
		seen := make(map[uint64]bool, n)
		buf := make([]byte, 64)
		for {
			m, _, err := rc.ReadFromUDPAddrPort(buf)
			if err != nil {
				counted <- len(seen)
				return
			}
			if m == 8 {
				seen[binary.BigEndian.Uint64(buf)] = true
			}
		}
	}()
	dst := netip.AddrPortFrom(to.Addr, port)
	for i := range n {
		if _, err := sc.WriteToUDPAddrPort(binary.BigEndian.AppendUint64(nil, uint64(i)), dst); err != nil {
			return 0, err
		}
		if i%5 == 4 {
			time.Sleep(time.Millisecond)
		}
	}
	time.Sleep(time.Second)
	rc.SetReadDeadline(time.Now())
	return <-counted, nil
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
