// Package portmap asks the home router to forward the node's ports to it, through UPnP IGD
// (huin/goupnp) or NAT-PMP (jackpal/go-nat-pmp), keeps the mappings renewed while the node
// runs and removes them when it stops (docs/spec.md §19.11). Every conversation with the
// router is bounded in time and runs beside the node, so a router that never answers costs
// nothing the user sees.
package portmap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Tuning (not protocol).
const (
	// DefaultTimeout bounds one conversation with the router (discovery, one mapping).
	DefaultTimeout = 3 * time.Second
	// DefaultLease is the lease asked for; mappings are renewed at half of what was granted.
	DefaultLease = time.Hour
	// retryEvery: when no router answered or no mapping was granted, try again this often.
	retryEvery = 5 * time.Minute
	// defaultMinRenew keeps a router granting tiny leases from making the mapper spin.
	defaultMinRenew = 30 * time.Second
	// removeTimeout bounds removing the mappings at shutdown.
	removeTimeout = 2 * time.Second
)

// Port is one of the node's ports to map.
type Port struct {
	Proto    string // "udp" or "tcp"
	Internal uint16
}

// Mapping is a port the router forwards to the node.
type Mapping struct {
	Proto    string
	Internal uint16
	External netip.AddrPort // the router's outside address and port
	lease    time.Duration
}

func (m Mapping) String() string { return m.Proto + " " + m.External.String() }

// Config configures a Mapper.
type Config struct {
	Ports []Port
	// Description names the mappings in the router's table (UPnP).
	Description string
	// Timeout bounds each conversation with the router; DefaultTimeout if zero.
	Timeout time.Duration
	// Lease is the lease asked for; DefaultLease if zero.
	Lease time.Duration
	// Gateway is the NAT-PMP server; zero: the default route's gateway.
	Gateway netip.Addr
	// IGDURL is the root device description of a UPnP IGD; empty: found by SSDP.
	IGDURL string
	// NoUPnP and NoNATPMP leave a protocol out.
	NoUPnP, NoNATPMP bool
	// MinRenew is the shortest time between renewals, whatever lease the router grants;
	// 30 s if zero.
	MinRenew time.Duration
	// Logger receives what the mapper did; nil: silent.
	Logger *slog.Logger
}

// Mapper holds the node's port mappings. Run maps, renews and finally removes them.
type Mapper struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	router   router    // the router that holds mappings; guarded by mu
	mappings []Mapping // guarded by mu
	tried    bool      // a first attempt has ended; guarded by mu
}

// New makes a mapper; nothing is asked of the router until Run.
func New(cfg Config) *Mapper {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.MinRenew <= 0 {
		cfg.MinRenew = defaultMinRenew
	}
	if cfg.Description == "" {
		cfg.Description = "Lethe node"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Mapper{cfg: cfg, log: log}
}

// Mappings reports the protocol that made the mappings ("UPnP IGD", "NAT-PMP") and the
// mappings the router now holds; none while none is granted.
func (m *Mapper) Mappings() (method string, ms []Mapping) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.router == nil || len(m.mappings) == 0 {
		return "", nil
	}
	return m.router.name(), slices.Clone(m.mappings)
}

// Tried reports whether the first attempt to map has ended, granted or not.
func (m *Mapper) Tried() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tried
}

// router is one protocol's conversation with the router.
type router interface {
	name() string
	// add maps p to the external port asked for (0: any) for lease, and reports the
	// mapping granted.
	add(ctx context.Context, p Port, external uint16, lease time.Duration) (Mapping, error)
	remove(ctx context.Context, m Mapping) error
}

// Run maps the ports, renews the mappings before they expire and, when ctx ends, removes
// them from the router (within removeTimeout) and returns.
func (m *Mapper) Run(ctx context.Context) {
	defer m.removeAll()
	for {
		wait := retryEvery
		if r, ms := m.mapAll(ctx); len(ms) > 0 {
			m.mu.Lock()
			m.router, m.mappings = r, ms
			m.mu.Unlock()
			m.log.Info("router forwards ports to this node", "via", r.name(), "mappings", fmt.Sprint(ms))
			wait = renewAfter(ms, m.cfg.MinRenew)
		}
		m.mu.Lock()
		m.tried = true
		m.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// renewAfter is half the shortest lease granted, at least minRenew.
func renewAfter(ms []Mapping, minRenew time.Duration) time.Duration {
	d := ms[0].lease
	for _, x := range ms[1:] {
		d = min(d, x.lease)
	}
	if d == 0 { // a permanent mapping: check it now and then all the same
		return retryEvery
	}
	return max(d/2, minRenew)
}

// mapAll finds a router that answers and maps every port there, keeping the external ports
// of mappings it already holds. It returns nothing if no router maps all the ports.
func (m *Mapper) mapAll(ctx context.Context) (router, []Mapping) {
	_, held := m.Mappings()
	for _, r := range m.routers(ctx) {
		var ms []Mapping
		var err error
		for _, p := range m.cfg.Ports {
			external := p.Internal
			for _, h := range held {
				if h.Proto == p.Proto && h.Internal == p.Internal {
					external = h.External.Port()
				}
			}
			var mp Mapping
			mp, err = m.add(ctx, r, p, external)
			if err != nil {
				break
			}
			ms = append(ms, mp)
		}
		if err == nil && len(ms) > 0 {
			return r, ms
		}
		m.log.Debug("router did not map the ports", "via", r.name(), "err", err)
		for _, mp := range ms {
			m.remove(r, mp)
		}
	}
	return nil, nil
}

// add asks r for one mapping: the external port wanted, else any.
func (m *Mapper) add(ctx context.Context, r router, p Port, external uint16) (Mapping, error) {
	tctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	mp, err := r.add(tctx, p, external, m.cfg.Lease)
	if err != nil && external != 0 && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
		tctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
		defer cancel()
		mp, err = r.add(tctx, p, 0, m.cfg.Lease)
	}
	if err != nil {
		return Mapping{}, err
	}
	if !mp.External.Addr().IsGlobalUnicast() || mp.External.Addr().IsPrivate() {
		// The router is itself behind a NAT (a carrier's): its outside address is nobody's
		// way in. Undo the mapping rather than advertise it.
		m.remove(r, mp)
		return Mapping{}, fmt.Errorf("%s: the router's outside address %v is not public", r.name(), mp.External.Addr())
	}
	return mp, nil
}

func (m *Mapper) remove(r router, mp Mapping) {
	ctx, cancel := context.WithTimeout(context.Background(), removeTimeout)
	defer cancel()
	if err := r.remove(ctx, mp); err != nil {
		m.log.Debug("mapping not removed", "mapping", mp, "err", err)
	}
}

// removeAll removes the mappings held, at shutdown.
func (m *Mapper) removeAll() {
	m.mu.Lock()
	r, ms := m.router, m.mappings
	m.mappings = nil
	m.mu.Unlock()
	if len(ms) == 0 {
		return
	}
	for _, mp := range ms {
		m.remove(r, mp)
	}
	m.log.Info("port mappings removed from the router", "via", r.name())
}

// routers are the routers that answer, NAT-PMP first (one UDP round trip), then UPnP IGD
// (SSDP discovery, then HTTP); each found within the timeout.
func (m *Mapper) routers(ctx context.Context) []router {
	var rs []router
	if !m.cfg.NoNATPMP {
		if r := m.natpmp(ctx); r != nil {
			rs = append(rs, r)
		}
	}
	if !m.cfg.NoUPnP {
		if r := m.upnp(ctx); r != nil {
			rs = append(rs, r)
		}
	}
	return rs
}
