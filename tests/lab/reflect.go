//go:build linux

package lab

import (
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Reflect answers every UDP packet to port on the host with the address and port it came
// from, as text ("198.19.0.2:41000"): what a peer on the internet sees of the sender. It runs
// until the lab closes.
func (h *Host) Reflect(port uint16) error {
	c, err := h.ListenUDP(port)
	if err != nil {
		return err
	}
	h.lab.onClose(func() { c.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			_, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			c.WriteToUDPAddrPort([]byte(from.String()), from)
		}
	}()
	return nil
}

// Observed asks a Reflect at reflector what address and port c's packets come from, trying
// a few times within a few seconds.
func Observed(c *net.UDPConn, reflector netip.AddrPort) (netip.AddrPort, error) {
	buf := make([]byte, 128)
	for range 10 {
		if _, err := c.WriteToUDPAddrPort([]byte("?"), reflector); err != nil {
			return netip.AddrPort{}, err
		}
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				break
			}
			if from == reflector {
				c.SetReadDeadline(time.Time{})
				return netip.ParseAddrPort(string(buf[:n]))
			}
		}
	}
	c.SetReadDeadline(time.Time{})
	return netip.AddrPort{}, fmt.Errorf("no answer from %s", reflector)
}

// Punch has a and b send to each other's outside address at once, as two hosts told of
// each other by a peer both reach do, for up to within; it reports whether each heard the
// other. ao and bo are the outside addresses a reflector saw for each socket.
func Punch(a, b *net.UDPConn, ao, bo netip.AddrPort, within time.Duration) (aHeard, bHeard bool) {
	heard := func(c *net.UDPConn, from netip.AddrPort, result chan<- bool) {
		buf := make([]byte, 64)
		c.SetReadDeadline(time.Now().Add(within))
		defer c.SetReadDeadline(time.Time{})
		for {
			_, f, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				result <- false
				return
			}
			if f == from {
				result <- true
				return
			}
		}
	}
	ra, rb := make(chan bool, 1), make(chan bool, 1)
	go heard(a, bo, ra)
	go heard(b, ao, rb)
	stop := time.After(within)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var gotA, gotB, doneA, doneB bool
	for !(doneA && doneB) {
		a.WriteToUDPAddrPort([]byte("punch"), bo)
		b.WriteToUDPAddrPort([]byte("punch"), ao)
		select {
		case gotA = <-ra:
			doneA, ra = true, nil
		case gotB = <-rb:
			doneB, rb = true, nil
		case <-tick.C:
		case <-stop:
			if !doneA {
				gotA = <-ra
			}
			if !doneB {
				gotB = <-rb
			}
			return gotA, gotB
		}
	}
	return gotA, gotB
}
