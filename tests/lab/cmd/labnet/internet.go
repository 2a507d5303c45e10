//go:build linux

package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// queueLen bounds the packets a site may have in flight inside the internet (sent, not yet
// delivered): a router's buffer. At 40 ms it holds 40 ms of 300 MB/s in 1500-byte packets;
// past it, packets are dropped at the tail, as a router does.
const queueLen = 8192

// internet carries packets between sites by destination address.
type internet struct {
	seed uint64

	mu     sync.RWMutex
	sites  map[string]*site     // guarded by mu
	routes map[netip.Addr]*site // guarded by mu
}

func newInternet(seed uint64) *internet {
	return &internet{seed: seed, sites: map[string]*site{}, routes: map[netip.Addr]*site{}}
}

// site is one attachment to the internet: a TUN device in the site's namespace.
type site struct {
	name  string
	tun   *tunDevice
	queue chan packet // what the site sent, in order, waiting out its delay

	link atomic.Pointer[linkConditions]

	// counters, read by stats
	sent, delivered, lost, overflow, unroutable atomic.Int64
}

// linkConditions are what a site's link does to the packets the site sends.
type linkConditions struct {
	delay time.Duration
	loss  float64
}

// packet is one IP packet on its way, with the time it may be delivered.
type packet struct {
	data []byte
	to   *site
	due  time.Time
}

var bufs = sync.Pool{New: func() any { b := make([]byte, 65536); return &b }}

func (in *internet) addSite(req request) error {
	if req.Name == "" || req.Netns == "" || req.Tun == "" || len(req.Addrs) == 0 {
		return errors.New("site needs name, netns, tun and addrs")
	}
	var addrs []netip.Addr
	for _, a := range req.Addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil || !ip.Is4() {
			return fmt.Errorf("site %s: address %q is not IPv4", req.Name, a)
		}
		addrs = append(addrs, ip)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.sites[req.Name] != nil {
		return fmt.Errorf("site %s exists", req.Name)
	}
	for _, a := range addrs {
		if in.routes[a] != nil {
			return fmt.Errorf("site %s: address %s is %s's", req.Name, a, in.routes[a].name)
		}
	}
	tun, err := openTUN(req.Netns, req.Tun)
	if err != nil {
		return fmt.Errorf("site %s: %w", req.Name, err)
	}
	s := &site{name: req.Name, tun: tun, queue: make(chan packet, queueLen)}
	s.link.Store(&linkConditions{delay: msDuration(req.DelayMs), loss: req.Loss})
	in.sites[s.name] = s
	for _, a := range addrs {
		in.routes[a] = s
	}
	rng := rand.New(rand.NewPCG(in.seed, uint64(len(in.sites))))
	go in.receive(s, rng)
	go in.deliver(s)
	return nil
}

func (in *internet) setLink(name string, delayMs, loss float64) error {
	in.mu.RLock()
	s := in.sites[name]
	in.mu.RUnlock()
	if s == nil {
		return fmt.Errorf("no site %s", name)
	}
	if loss < 0 || loss > 1 || delayMs < 0 {
		return fmt.Errorf("site %s: delay %v ms, loss %v out of range", name, delayMs, loss)
	}
	s.link.Store(&linkConditions{delay: msDuration(delayMs), loss: loss})
	return nil
}

func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

// receive reads what the site sends, drops what its link loses, and queues the rest with the
// time it is due. A packet to an address no site has (a private address, say) goes nowhere,
// as on the internet.
func (in *internet) receive(s *site, rng *rand.Rand) {
	for {
		bp := bufs.Get().(*[]byte)
		n, err := s.tun.read(*bp)
		if err != nil {
			return
		}
		if n < 20 || (*bp)[0]>>4 != 4 {
			bufs.Put(bp)
			continue // IPv4 only; the lab gives sites no IPv6 addresses
		}
		s.sent.Add(1)
		dst := netip.AddrFrom4([4]byte((*bp)[16:20]))
		in.mu.RLock()
		to := in.routes[dst]
		in.mu.RUnlock()
		link := s.link.Load()
		switch {
		case to == nil:
			s.unroutable.Add(1)
		case link.loss > 0 && rng.Float64() < link.loss:
			s.lost.Add(1)
		default:
			select {
			case s.queue <- packet{data: (*bp)[:n], to: to, due: time.Now().Add(link.delay)}:
				continue
			default:
				s.overflow.Add(1)
			}
		}
		bufs.Put(bp)
	}
}

// deliver writes the site's packets to their destinations once they are due. The delay of
// one site's link is the same for all it sends, so due times are in order and one queue
// keeps them.
func (in *internet) deliver(s *site) {
	for p := range s.queue {
		if d := time.Until(p.due); d > 0 {
			time.Sleep(d)
		}
		if err := p.to.tun.write(p.data); err == nil {
			s.delivered.Add(1)
		}
		b := p.data[:cap(p.data)]
		bufs.Put(&b)
	}
}

// siteStats are one site's counters, in packets.
type siteStats struct {
	Sent       int64 `json:"sent"`
	Delivered  int64 `json:"delivered"`
	Lost       int64 `json:"lost"`
	Overflow   int64 `json:"overflow"`
	Unroutable int64 `json:"unroutable"`
}

func (in *internet) stats() map[string]siteStats {
	in.mu.RLock()
	defer in.mu.RUnlock()
	out := map[string]siteStats{}
	for name, s := range in.sites {
		out[name] = siteStats{s.sent.Load(), s.delivered.Load(), s.lost.Load(), s.overflow.Load(), s.unroutable.Load()}
	}
	return out
}
