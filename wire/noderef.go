package wire

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"lethe/crypto"
)

// Noderef limits (spec §9.1).
const (
	// MaxNodeRefSize bounds the canonical text of a noderef, signature included, so that
	// every message carrying one fits a small frame (spec §11.2).
	MaxNodeRefSize = 900
	// MaxAddresses is the most listening addresses one noderef may list.
	MaxAddresses = 4
	// maxNodeRefInput bounds what ParseNodeRef reads, surrounding white space and CRLF line
	// ends included, before it looks at any of it.
	maxNodeRefInput = 4 * MaxNodeRefSize
	// maxHostName is the longest DNS name an address may use (RFC 1035).
	maxHostName = 253

	nodeRefHeader = "lethe-noderef v1"
)

var (
	// ErrNodeRef: the text is not a well-formed noderef.
	ErrNodeRef = errors.New("malformed noderef")
	// ErrNodeRefSignature: the noderef is well formed but its signature does not verify,
	// which is what an edited noderef looks like.
	ErrNodeRefSignature = errors.New("noderef signature does not verify (was it edited?)")
)

// NodeRef is a node's signed calling card (spec §9.1): its identity, where it listens, the
// wire versions it speaks and, in noderefs given to friends, its location. Users exchange
// them as text; nodes pass them inside messages for path folding and announcements. A
// NodeRef is immutable and always carries a valid signature: it can only be made by
// NewNodeRef, which signs, or by ParseNodeRef, which verifies.
type NodeRef struct {
	id          crypto.NodeID
	minVersion  uint8
	maxVersion  uint8
	addresses   []string
	quic        []string
	location    crypto.Location
	hasLocation bool
	text        []byte // canonical signed text, signature line included
}

// NodeRefInfo is what a node says about itself in its noderef.
type NodeRefInfo struct {
	// Addresses where the node accepts TCP links, as host:port: an IP address in its
	// canonical form or a lower-case DNS name. At most MaxAddresses; none for a node that
	// only dials out.
	Addresses []string
	// QUICAddresses where the node accepts QUIC links (UDP), in the same form; at most
	// MaxAddresses. Diallers try them before Addresses.
	QUICAddresses []string
	// Location is included only when WithLocation is set: friends need it for swapping and
	// routing, strangers (opennet) learn it from the location messages of the link.
	Location     crypto.Location
	WithLocation bool
}

// NewNodeRef signs a noderef for the node with identity id. It speaks the wire versions of
// this build (MinVersion to MaxVersion).
func NewNodeRef(id *crypto.NodeIdentity, info NodeRefInfo) (*NodeRef, error) {
	r := &NodeRef{
		id:          id.ID(),
		minVersion:  MinVersion,
		maxVersion:  MaxVersion,
		addresses:   slices.Clone(info.Addresses),
		quic:        slices.Clone(info.QUICAddresses),
		location:    info.Location,
		hasLocation: info.WithLocation,
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	body := r.body()
	sig := id.SignNodeRef(body)
	r.text = append(body, "signature "+crypto.EncodeText(sig)+"\n"...)
	if len(r.text) > MaxNodeRefSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d (shorten the addresses)", ErrNodeRef, len(r.text), MaxNodeRefSize)
	}
	return r, nil
}

// ID is the node the noderef describes; its signature was made by this identity.
func (r *NodeRef) ID() crypto.NodeID { return r.id }

// Addresses lists where the node accepts TCP links (host:port).
func (r *NodeRef) Addresses() []string { return slices.Clone(r.addresses) }

// QUICAddresses lists where the node accepts QUIC links (host:port, UDP).
func (r *NodeRef) QUICAddresses() []string { return slices.Clone(r.quic) }

// Location is the node's location, if the noderef carries one.
func (r *NodeRef) Location() (crypto.Location, bool) { return r.location, r.hasLocation }

// Versions is the range of wire versions the node speaks.
func (r *NodeRef) Versions() (lowest, highest uint8) { return r.minVersion, r.maxVersion }

// Text is the canonical signed text, ready to copy and paste or send.
func (r *NodeRef) Text() string { return string(r.text) }

// Equal reports whether two noderefs are the same signed text.
func (r *NodeRef) Equal(s *NodeRef) bool { return bytes.Equal(r.text, s.text) }

// String is the text form, so that fmt prints a noderef as users exchange it.
func (r *NodeRef) String() string { return r.Text() }

// body is the signed part of the canonical text (spec §9.1): every line before the
// signature line.
func (r *NodeRef) body() []byte {
	var b strings.Builder
	b.WriteString(nodeRefHeader + "\n")
	b.WriteString("id " + r.id.String() + "\n")
	b.WriteString("protocol " + strconv.Itoa(int(r.minVersion)) + " " + strconv.Itoa(int(r.maxVersion)) + "\n")
	for _, a := range r.addresses {
		b.WriteString("address " + a + "\n")
	}
	for _, a := range r.quic {
		b.WriteString("quic " + a + "\n")
	}
	if r.hasLocation {
		b.WriteString("location " + formatLocation(r.location) + "\n")
	}
	return []byte(b.String())
}

func (r *NodeRef) validate() error {
	if r.minVersion == 0 || r.minVersion > r.maxVersion {
		return fmt.Errorf("%w: protocol versions %d to %d", ErrNodeRef, r.minVersion, r.maxVersion)
	}
	if err := checkAddresses("address", r.addresses); err != nil {
		return err
	}
	if err := checkAddresses("quic", r.quic); err != nil {
		return err
	}
	if r.hasLocation && !validLocation(r.location) {
		return fmt.Errorf("%w: location %v is not in [0,1)", ErrNodeRef, float64(r.location))
	}
	return nil
}

// checkAddresses checks one kind of address line: at most MaxAddresses, each well formed,
// none twice.
func checkAddresses(kind string, addrs []string) error {
	if len(addrs) > MaxAddresses {
		return fmt.Errorf("%w: %d %s lines, at most %d", ErrNodeRef, len(addrs), kind, MaxAddresses)
	}
	for i, a := range addrs {
		if err := checkAddress(a); err != nil {
			return fmt.Errorf("%w: %s %q: %v", ErrNodeRef, kind, a, err)
		}
		if slices.Contains(addrs[:i], a) {
			return fmt.Errorf("%w: %s %q listed twice", ErrNodeRef, kind, a)
		}
	}
	return nil
}

// ParseNodeRef reads a noderef as a user pastes it. Around the canonical text it tolerates
// what mail and chat do to text, white space before and after and CRLF line ends, and
// nothing else: every line must be exactly as NewNodeRef writes it, and the signature must
// verify (ErrNodeRefSignature otherwise).
func ParseNodeRef(text string) (*NodeRef, error) {
	if len(text) > maxNodeRefInput {
		return nil, fmt.Errorf("%w: %d bytes of text, at most %d", ErrNodeRef, len(text), maxNodeRefInput)
	}
	text = strings.ReplaceAll(strings.TrimSpace(text), "\r\n", "\n") + "\n"
	return parseCanonicalNodeRef([]byte(text))
}

// parseCanonicalNodeRef parses exactly the canonical text, as carried in messages.
func parseCanonicalNodeRef(b []byte) (*NodeRef, error) {
	if len(b) > MaxNodeRefSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrNodeRef, len(b), MaxNodeRefSize)
	}
	d := sha256.Sum256(b)
	if r := verifiedRefs.get(d); r != nil {
		return r, nil
	}
	r, err := parseNewNodeRef(b)
	if err == nil {
		verifiedRefs.add(d, r)
	}
	return r, err
}

// parseNewNodeRef parses and verifies a canonical text not seen before.
func parseNewNodeRef(b []byte) (*NodeRef, error) {
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return nil, fmt.Errorf("%w: does not end with a line end", ErrNodeRef)
	}
	lines := strings.Split(string(b[:len(b)-1]), "\n")
	p := nodeRefParser{lines: lines}
	if p.next() != nodeRefHeader {
		return nil, fmt.Errorf("%w: first line is not %q", ErrNodeRef, nodeRefHeader)
	}
	r := &NodeRef{}
	if err := r.id.UnmarshalText([]byte(p.field("id"))); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNodeRef, err)
	}
	lo, hi, ok := strings.Cut(p.field("protocol"), " ")
	if !ok {
		return nil, fmt.Errorf("%w: protocol line needs two versions", ErrNodeRef)
	}
	var err error
	if r.minVersion, err = parseVersion(lo); err != nil {
		return nil, err
	}
	if r.maxVersion, err = parseVersion(hi); err != nil {
		return nil, err
	}
	for p.peekField("address") && len(r.addresses) <= MaxAddresses {
		r.addresses = append(r.addresses, p.field("address"))
	}
	for p.peekField("quic") && len(r.quic) <= MaxAddresses {
		r.quic = append(r.quic, p.field("quic"))
	}
	if p.peekField("location") {
		s := p.field("location")
		if r.location, err = parseLocation(s); err != nil {
			return nil, fmt.Errorf("%w: location %q: %v", ErrNodeRef, s, err)
		}
		r.hasLocation = true
	}
	sigText := p.field("signature")
	if p.err != nil {
		return nil, p.err
	}
	if p.i != len(p.lines) {
		return nil, fmt.Errorf("%w: text after the signature line", ErrNodeRef)
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	var sig [ed25519.SignatureSize]byte
	if err := crypto.DecodeText("signature", sigText, sig[:]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNodeRef, err)
	}
	// Every field above was read in its one canonical spelling, so the body rebuilt from
	// them is the body that was signed exactly when the input was canonical. Requiring
	// equality refuses any other spelling before spending a signature check on it.
	body := r.body()
	if !bytes.HasPrefix(b, body) || len(b) != len(body)+len("signature \n")+len(sigText) {
		return nil, fmt.Errorf("%w: not in canonical form", ErrNodeRef)
	}
	if !r.id.VerifyNodeRef(body, sig[:]) {
		return nil, ErrNodeRefSignature
	}
	r.text = bytes.Clone(b)
	return r, nil
}

// verifiedRefs remembers noderefs that parsed and verified, by the digest of their canonical
// text. A node sees the same noderefs again and again (path folding passes one back along every
// successful request), and parsing one and checking its Ed25519 signature costs many times the
// SHA-256 that finds it here. A NodeRef is immutable and its text includes the signature, so
// the same text always parses to the same noderef.
var verifiedRefs = newRefCache(4096)

// refCache is a bounded map from text digests to noderefs, forgetting the oldest first.
type refCache struct {
	mu   sync.Mutex
	refs map[[32]byte]*NodeRef // guarded by mu
	ring [][32]byte            // insertion order; guarded by mu
	next int                   // where the next digest goes in ring; guarded by mu
}

func newRefCache(n int) *refCache {
	return &refCache{refs: make(map[[32]byte]*NodeRef, n), ring: make([][32]byte, 0, n)}
}

func (c *refCache) get(d [32]byte) *NodeRef {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refs[d]
}

func (c *refCache) add(d [32]byte, r *NodeRef) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.refs[d]; ok {
		return
	}
	if len(c.ring) < cap(c.ring) {
		c.ring = append(c.ring, d)
	} else {
		delete(c.refs, c.ring[c.next])
		c.ring[c.next] = d
		c.next = (c.next + 1) % len(c.ring)
	}
	c.refs[d] = r
}

// nodeRefParser walks the lines of a noderef; the first error sticks.
type nodeRefParser struct {
	lines []string
	i     int
	err   error
}

func (p *nodeRefParser) next() string {
	if p.i >= len(p.lines) {
		return ""
	}
	p.i++
	return p.lines[p.i-1]
}

func (p *nodeRefParser) peekField(name string) bool {
	return p.i < len(p.lines) && strings.HasPrefix(p.lines[p.i], name+" ")
}

// field reads the line "name value" and returns value.
func (p *nodeRefParser) field(name string) string {
	if p.err != nil {
		return ""
	}
	if !p.peekField(name) {
		p.err = fmt.Errorf("%w: line %d should be the %s line", ErrNodeRef, p.i+1, name)
		return ""
	}
	return strings.TrimPrefix(p.next(), name+" ")
}

func parseVersion(s string) (uint8, error) {
	v, err := strconv.ParseUint(s, 10, 8)
	if err != nil || strconv.FormatUint(v, 10) != s {
		return 0, fmt.Errorf("%w: protocol version %q", ErrNodeRef, s)
	}
	return uint8(v), nil
}

// formatLocation writes a location in its shortest exact decimal form.
func formatLocation(l crypto.Location) string {
	return strconv.FormatFloat(float64(l), 'g', -1, 64)
}

func parseLocation(s string) (crypto.Location, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, errors.New("not a number")
	}
	l := crypto.Location(v)
	if !validLocation(l) {
		return 0, errors.New("not in [0,1)")
	}
	if formatLocation(l) != s {
		return 0, errors.New("not in its shortest form")
	}
	return l, nil
}

// validLocation is crypto.Location.Valid, refusing also negative zero so that each location
// has one encoding.
func validLocation(l crypto.Location) bool { return l.Valid() && !math.Signbit(float64(l)) }

// checkAddress accepts host:port where host is an IP address in the one form netip writes
// (no zone, no IPv4-mapped IPv6) or a lower-case DNS name, and port is 1 to 65535 without
// leading zeros.
func checkAddress(a string) error {
	if ap, err := netip.ParseAddrPort(a); err == nil {
		ip := ap.Addr()
		switch {
		case ip.Zone() != "":
			return errors.New("an address with a zone is local to one machine")
		case ip.Is4In6():
			return errors.New("write an IPv4 address as IPv4")
		case ap.Port() == 0:
			return errors.New("port 0")
		case ap.String() != a:
			return fmt.Errorf("write it as %s", ap)
		}
		return nil
	}
	i := strings.LastIndexByte(a, ':')
	if i < 0 {
		return errors.New("want host:port")
	}
	host, port := a[:i], a[i+1:]
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 || strconv.FormatUint(p, 10) != port {
		return fmt.Errorf("bad port %q", port)
	}
	if _, err := netip.ParseAddr(host); err == nil || strings.HasPrefix(host, "[") {
		return errors.New("not a canonical IP address and port")
	}
	return checkHostName(host)
}

// checkHostName accepts lower-case LDH names (RFC 1123): labels of 1 to 63 letters, digits and
// inner hyphens, at most 253 bytes, no trailing dot, and a last label that is not all digits.
func checkHostName(h string) error {
	if len(h) == 0 || len(h) > maxHostName {
		return fmt.Errorf("host name of %d bytes", len(h))
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("bad host name label %q", l)
		}
		for _, c := range []byte(l) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return fmt.Errorf("host name byte %q (names are lower-case letters, digits and hyphens)", c)
			}
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return errors.New("host name ends in a number")
	}
	return nil
}
