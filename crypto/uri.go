package crypto

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// KeyType says which of Lethe's four key families a URI names (spec §6).
type KeyType uint8

const (
	CHK KeyType = 1 + iota // content hash key: immutable data, named by its hash
	SSK                    // signed subspace key: a document in an owner's namespace
	KSK                    // keyword key: an SSK whose key pair anyone can derive from a word
	USK                    // updatable subspace key: edition N of a site, stored as SSK "site-N"
)

// BlockSize is the size of every block of the type (blocks are fixed-size): CHKBlockSize or
// SSKBlockSize, 0 for a type that has no blocks of its own (a KSK or USK is stored as an SSK).
func (t KeyType) BlockSize() int {
	switch t {
	case CHK:
		return CHKBlockSize
	case SSK:
		return SSKBlockSize
	}
	return 0
}

func (t KeyType) String() string {
	switch t {
	case CHK:
		return "CHK"
	case SSK:
		return "SSK"
	case KSK:
		return "KSK"
	case USK:
		return "USK"
	}
	return fmt.Sprintf("KeyType(%d)", uint8(t))
}

// Limits on URIs (spec §6.4). They bound what a peer or a web page can make a parser do.
const (
	MaxURILength  = 4096    // bytes, after the optional prefix
	MaxKeyword    = 512     // bytes of a KSK keyword
	MaxSiteName   = 256     // bytes of a USK site name
	MaxEdition    = 1 << 40 // one edition a second for 34,000 years
	MaxPathLength = 255     // bytes of one path component
	URIPrefix     = "lethe:"
)

// ErrInvalidURI is the sentinel under every URI parse error; errors.Is(err, ErrInvalidURI)
// tells a caller the text was not a usable URI (as opposed to, say, the data not being found).
var ErrInvalidURI = errors.New("invalid URI")

// URIError says what is wrong with a URI, in words a user can act on.
type URIError struct {
	URI    string // the input, shortened if long
	Reason string
}

func (e *URIError) Error() string { return fmt.Sprintf("invalid URI %q: %s", e.URI, e.Reason) }
func (e *URIError) Unwrap() error { return ErrInvalidURI }

func uriErr(input, format string, args ...any) error {
	if len(input) > 80 {
		input = input[:77] + "..."
	}
	return &URIError{URI: strings.ToValidUTF8(input, "?"), Reason: fmt.Sprintf(format, args...)}
}

// RequestURI names content to fetch. It never holds a private key, so it is safe to share.
type RequestURI struct {
	Type    KeyType
	Key     [KeySize]byte // CHK: routing key; SSK and USK: public-key hash; KSK: unused
	Crypto  [KeySize]byte // CHK, SSK, USK: the crypto key that decrypts
	DocName string        // SSK: document name ("" for the bare key a GenerateSSK returns)
	Site    string        // USK: site name
	Edition int64         // USK: edition, 0 ≤ Edition ≤ MaxEdition
	Keyword string        // KSK: the keyword
	Path    string        // "" or "/" followed by a path inside the content: "/index.html"
}

// InsertURI names where content is to be inserted. For SSK and USK it holds the subspace's
// private seed and must be kept secret; it is a distinct type from RequestURI so that it can
// never be handed to something that shares or fetches by accident.
type InsertURI struct {
	Type    KeyType
	Seed    [KeySize]byte // SSK, USK: the private seed of the subspace key pair
	Crypto  [KeySize]byte // SSK, USK: the crypto key
	DocName string
	Site    string
	Edition int64
	Keyword string
	Path    string
}

// The third, "extra" field of a CHK, SSK or USK URI (spec §6.2): format version, insert flag,
// key family (CHK or SSK; USK shares SSK's), block cipher suite, reserved. It keeps the
// three-part shape of Freenet URIs, which client programs pattern-match on.
const extraSize = 5

func extraFor(family KeyType, insert bool) [extraSize]byte {
	e := [extraSize]byte{1, 0, byte(family), 1, 0}
	if insert {
		e[1] = 1
	}
	return e
}

// ParseURI parses a request URI: CHK@…, SSK@…/doc, KSK@word or USK@…/site/N, with an
// optional "lethe:" prefix and an optional path. It rejects insert URIs, with a message that
// says so, and anything not in its one canonical form.
func ParseURI(s string) (RequestURI, error) {
	p, err := parse(s)
	if err != nil {
		return RequestURI{}, err
	}
	if p.insert {
		return RequestURI{}, uriErr(s, "this is an insert URI: it holds a private key, so keep it secret and share its request URI instead")
	}
	if p.typ == CHK && !p.hasKey {
		return RequestURI{}, uriErr(s, "CHK@ without a key is only an insert URI; a CHK request URI is CHK@<routing key>,<crypto key>,<extra>")
	}
	return RequestURI{Type: p.typ, Key: p.key, Crypto: p.crypto, DocName: p.docName, Site: p.site,
		Edition: p.edition, Keyword: p.keyword, Path: p.path}, nil
}

// ParseInsertURI parses an insert URI: CHK@ (the key follows from the content), SSK@<seed>,…/doc,
// KSK@word or USK@<seed>,…/site/N. A request URI of an SSK or USK is rejected: it cannot sign.
func ParseInsertURI(s string) (InsertURI, error) {
	p, err := parse(s)
	if err != nil {
		return InsertURI{}, err
	}
	switch {
	case p.typ == CHK && p.hasKey:
		return InsertURI{}, uriErr(s, "a CHK insert URI is just CHK@ (its key follows from the content)")
	case (p.typ == SSK || p.typ == USK) && !p.insert:
		return InsertURI{}, uriErr(s, "this is a request URI: inserting needs the insert URI with the private key (from keygen)")
	}
	return InsertURI{Type: p.typ, Seed: p.key, Crypto: p.crypto, DocName: p.docName, Site: p.site,
		Edition: p.edition, Keyword: p.keyword, Path: p.path}, nil
}

type parsed struct {
	typ                    KeyType
	hasKey, insert         bool
	key, crypto            [KeySize]byte
	docName, site, keyword string
	edition                int64
	path                   string
}

func parse(s string) (parsed, error) {
	in := s
	s = strings.TrimPrefix(s, URIPrefix)
	var p parsed
	if len(s) > MaxURILength {
		return p, uriErr(in, "URI is %d bytes, at most %d allowed", len(s), MaxURILength)
	}
	if !utf8.ValidString(s) {
		return p, uriErr(in, "URI is not valid UTF-8")
	}
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		return p, uriErr(in, "control character %U at byte %d", []rune(s[i:])[0], i)
	}
	typ, rest, ok := strings.Cut(s, "@")
	if !ok {
		return p, uriErr(in, "no '@': a URI looks like CHK@…, SSK@…, KSK@… or USK@…")
	}
	switch typ {
	case "CHK":
		p.typ = CHK
	case "SSK":
		p.typ = SSK
	case "KSK":
		p.typ = KSK
	case "USK":
		p.typ = USK
	default:
		return p, uriErr(in, "unknown key type %q; want CHK, SSK, KSK or USK", typ)
	}

	if p.typ == KSK {
		word, _, _ := strings.Cut(rest, "/")
		if err := checkName("keyword", word, MaxKeyword, false); err != nil {
			return p, uriErr(in, "%v", err)
		}
		p.keyword = word
		return p, p.setPath(in, rest[len(word):])
	}

	keyPart, afterKey, hasSlash := strings.Cut(rest, "/")
	if p.typ == CHK && keyPart == "" {
		return p, p.setPath(in, rest) // CHK@ or CHK@/name: an insert URI
	}
	if err := p.parseKeyPart(in, keyPart); err != nil {
		return p, err
	}
	if p.typ == CHK {
		return p, p.setPath(in, rest[len(keyPart):])
	}
	if !hasSlash {
		if p.typ == USK {
			return p, uriErr(in, "a USK needs a site name and edition after the key: USK@…/site/0")
		}
		return p, uriErr(in, "an SSK needs '/' and a document name after the key: SSK@…/name (or SSK@…/ for the bare key)")
	}
	first, afterFirst, _ := strings.Cut(afterKey, "/")
	if p.typ == SSK {
		allowEmpty := afterKey == "" // "SSK@k,c,e/" is the bare key that GenerateSSK prints
		if err := checkName("document name", first, MaxDocNameLength, allowEmpty); err != nil {
			return p, uriErr(in, "%v", err)
		}
		p.docName = first
		return p, p.setPath(in, afterKey[len(first):])
	}
	if err := checkName("site name", first, MaxSiteName, false); err != nil {
		return p, uriErr(in, "%v", err)
	}
	p.site = first
	edText, _, _ := strings.Cut(afterFirst, "/")
	if len(afterKey) == len(first) {
		return p, uriErr(in, "a USK needs an edition after the site name: USK@…/%s/0", first)
	}
	ed, err := parseEdition(edText)
	if err != nil {
		return p, uriErr(in, "%v", err)
	}
	p.edition = ed
	return p, p.setPath(in, afterFirst[len(edText):])
}

// parseKeyPart decodes "<key>,<crypto key>,<extra>".
func (p *parsed) parseKeyPart(in, keyPart string) error {
	parts := strings.Split(keyPart, ",")
	if len(parts) != 3 {
		return uriErr(in, "key has %d comma-separated parts, want 3 (<key>,<crypto key>,<extra>)", len(parts))
	}
	var extra [extraSize]byte
	if err := decodeKey("extra field", parts[2], extra[:]); err != nil {
		return uriErr(in, "%v", err)
	}
	family := p.typ
	if family == USK {
		family = SSK
	}
	switch {
	case extra[0] != 1:
		return uriErr(in, "URI format version %d is not supported (this Lethe reads version 1)", extra[0])
	case extra[1] > 1:
		return uriErr(in, "extra field: insert flag is %d, want 0 or 1", extra[1])
	case KeyType(extra[2]) != family:
		return uriErr(in, "extra field is for key family %d, but the URI says %s", extra[2], p.typ)
	case extra[3] != 1:
		return uriErr(in, "block cipher suite %d is not supported (this Lethe reads suite 1)", extra[3])
	case extra[4] != 0:
		return uriErr(in, "extra field: reserved byte is %d, want 0", extra[4])
	case family == CHK && extra[1] == 1:
		return uriErr(in, "extra field marks a CHK as an insert key, which does not exist")
	}
	p.insert = extra[1] == 1
	keyName := "routing key"
	switch {
	case p.insert:
		keyName = "private key"
	case family == SSK:
		keyName = "public key hash"
	}
	if err := decodeKey(keyName, parts[0], p.key[:]); err != nil {
		return uriErr(in, "%v", err)
	}
	if err := decodeKey("crypto key", parts[1], p.crypto[:]); err != nil {
		return uriErr(in, "%v", err)
	}
	p.hasKey = true
	return nil
}

// setPath checks the part of a URI after its fixed components: empty, or "/" followed by
// non-empty components separated by single slashes, with an optional trailing slash.
func (p *parsed) setPath(in, path string) error {
	if path == "" {
		return nil
	}
	if path[0] != '/' {
		return uriErr(in, "unexpected %q after the key", path)
	}
	comps := strings.Split(path[1:], "/")
	for i, c := range comps {
		if c == "" && i == len(comps)-1 {
			break // trailing slash: a directory
		}
		if err := checkPathComponent(c); err != nil {
			return uriErr(in, "%v", err)
		}
	}
	p.path = path
	return nil
}

func checkPathComponent(c string) error {
	switch {
	case c == "":
		return errors.New("empty path component ('//')")
	case c == "." || c == "..":
		return fmt.Errorf("path component %q is not allowed", c)
	case len(c) > MaxPathLength:
		return fmt.Errorf("path component is %d bytes, at most %d allowed", len(c), MaxPathLength)
	}
	return nil
}

// checkName validates a keyword, document or site name: UTF-8 with no control characters
// and no '/', at most max bytes, non-empty unless allowEmpty.
func checkName(what, s string, max int, allowEmpty bool) error {
	switch {
	case s == "" && !allowEmpty:
		return fmt.Errorf("%s is empty", what)
	case len(s) > max:
		return fmt.Errorf("%s is %d bytes, at most %d allowed", what, len(s), max)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s is not valid UTF-8", what)
	case strings.ContainsRune(s, '/'):
		return fmt.Errorf("%s contains '/'", what)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Errorf("%s contains a control character", what)
	}
	return nil
}

// parseEdition reads a USK edition: decimal digits, no sign, no leading zeros, at most
// MaxEdition, so each edition has one spelling.
func parseEdition(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("edition is empty")
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("edition %q is not a non-negative decimal number", s)
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("edition %q has a leading zero", s)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > MaxEdition {
		return 0, fmt.Errorf("edition %s is too large (at most %d)", s, int64(MaxEdition))
	}
	return n, nil
}

func formatURI(typ KeyType, insert bool, key, crypto *[KeySize]byte, docName, site string, edition int64, keyword, path string) string {
	var b strings.Builder
	b.WriteString(typ.String())
	b.WriteByte('@')
	switch typ {
	case KSK:
		b.WriteString(keyword)
	case CHK, SSK, USK:
		if typ == CHK && insert {
			break // CHK@: the key follows from the content
		}
		family := typ
		if typ == USK {
			family = SSK
		}
		extra := extraFor(family, insert)
		b.WriteString(encodeKey(key[:]))
		b.WriteByte(',')
		b.WriteString(encodeKey(crypto[:]))
		b.WriteByte(',')
		b.WriteString(encodeKey(extra[:]))
		switch typ {
		case SSK:
			b.WriteByte('/')
			b.WriteString(docName)
		case USK:
			b.WriteByte('/')
			b.WriteString(site)
			b.WriteByte('/')
			b.WriteString(strconv.FormatInt(edition, 10))
		}
	}
	b.WriteString(path)
	return b.String()
}

// String formats the URI canonically, without the "lethe:" prefix. ParseURI(u.String()) == u.
func (u RequestURI) String() string {
	return formatURI(u.Type, false, &u.Key, &u.Crypto, u.DocName, u.Site, u.Edition, u.Keyword, u.Path)
}

// String formats the insert URI canonically. It contains the private key.
func (u InsertURI) String() string {
	return formatURI(u.Type, true, &u.Seed, &u.Crypto, u.DocName, u.Site, u.Edition, u.Keyword, u.Path)
}

// LogValue redacts the URI to its type ("CHK@…"): a URI in a log would tell whoever reads it
// what the node's user opened or inserted, and a request URI holds the key that decrypts it
// (docs/spec.md §19.10).
func (u RequestURI) LogValue() slog.Value { return slog.StringValue(u.Type.String() + "@…") }

// LogValue redacts the insert URI to its type, like RequestURI's: it holds a private key.
func (u InsertURI) LogValue() slog.Value { return slog.StringValue(u.Type.String() + "@…") }

// MarshalText implements encoding.TextMarshaler.
func (u RequestURI) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseURI.
func (u *RequestURI) UnmarshalText(b []byte) error {
	v, err := ParseURI(string(b))
	if err != nil {
		return err
	}
	*u = v
	return nil
}

// Components is the path split into its parts, without a trailing empty one.
func (u RequestURI) Components() []string {
	p := strings.TrimSuffix(strings.TrimPrefix(u.Path, "/"), "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// WithPath returns u pointing at path ("" or "/a/b") inside the same content.
func (u RequestURI) WithPath(path string) RequestURI { u.Path = path; return u }

// WithEdition returns a USK URI for another edition of the same site.
func (u RequestURI) WithEdition(n int64) RequestURI { u.Edition = n; return u }

// USKDocName is the SSK document name that stores edition n of a USK site (spec §5.2):
// the site name, a hyphen, the edition in decimal. The edition is all digits and the split is
// at the last hyphen, so the mapping is one-to-one even for site names that contain hyphens.
func USKDocName(site string, edition int64) string {
	return site + "-" + strconv.FormatInt(edition, 10)
}

// CHKKey returns the block key of a CHK URI.
func (u RequestURI) CHKKey() (CHKKey, error) {
	if u.Type != CHK {
		return CHKKey{}, fmt.Errorf("%s URI has no CHK key", u.Type)
	}
	return CHKKey{Routing: u.Key, Crypto: u.Crypto}, nil
}

// SSKKey returns the SSK document key behind an SSK, USK or KSK URI. For a KSK this derives
// the keyword's key pair, which costs an ML-DSA key generation.
func (u RequestURI) SSKKey() (SSKKey, error) {
	switch u.Type {
	case SSK:
		return SSKKey{PubKeyHash: u.Key, Crypto: u.Crypto, DocName: u.DocName}, nil
	case USK:
		return SSKKey{PubKeyHash: u.Key, Crypto: u.Crypto, DocName: USKDocName(u.Site, u.Edition)}, nil
	case KSK:
		return KSKInsertKey(u.Keyword).RequestKey(), nil
	}
	return SSKKey{}, fmt.Errorf("%s URI has no SSK key", u.Type)
}

// RoutingKey returns where the URI's top block lives.
func (u RequestURI) RoutingKey() (RoutingKey, error) {
	if u.Type == CHK {
		return u.Key, nil
	}
	k, err := u.SSKKey()
	if err != nil {
		return RoutingKey{}, err
	}
	return k.RoutingKey(), nil
}

// SSKInsertKey is what inserting an SSK document takes: the key pair, the crypto key and the
// document name.
type SSKInsertKey struct {
	Private *SSKPrivateKey
	Crypto  [KeySize]byte
	DocName string
}

// RequestKey is the key a reader of the document uses.
func (k SSKInsertKey) RequestKey() SSKKey {
	return SSKKey{PubKeyHash: k.Private.Public().Hash(), Crypto: k.Crypto, DocName: k.DocName}
}

// Encode builds the signed block holding payload.
func (k SSKInsertKey) Encode(payload []byte) ([]byte, RoutingKey, error) {
	return EncodeSSK(k.Private, k.Crypto, k.DocName, payload)
}

// KSKInsertKey derives the SSK insert key of a keyword (spec §5.1). Anyone who knows the word
// can derive it, so anyone can write a KSK, and the first to do so wins.
func KSKInsertKey(keyword string) SSKInsertKey {
	seed := labelledHash(labelKSKSeed, []byte(keyword))
	return SSKInsertKey{
		Private: NewSSKPrivateKey(seed),
		Crypto:  labelledHash(labelKSKCryptoKey, []byte(keyword)),
		DocName: "",
	}
}

// SSKInsertKey returns the key an SSK, USK or KSK insert URI signs with.
func (u InsertURI) SSKInsertKey() (SSKInsertKey, error) {
	switch u.Type {
	case SSK:
		return SSKInsertKey{Private: NewSSKPrivateKey(u.Seed), Crypto: u.Crypto, DocName: u.DocName}, nil
	case USK:
		return SSKInsertKey{Private: NewSSKPrivateKey(u.Seed), Crypto: u.Crypto, DocName: USKDocName(u.Site, u.Edition)}, nil
	case KSK:
		return KSKInsertKey(u.Keyword), nil
	}
	return SSKInsertKey{}, fmt.Errorf("%s insert URI has no SSK key: its key follows from the content", u.Type)
}

// RequestURI returns the URI readers fetch with. For a CHK it cannot be known before the
// content is encoded, and an error says so.
func (u InsertURI) RequestURI() (RequestURI, error) {
	r := RequestURI{Type: u.Type, Crypto: u.Crypto, DocName: u.DocName, Site: u.Site,
		Edition: u.Edition, Keyword: u.Keyword, Path: u.Path}
	switch u.Type {
	case SSK, USK:
		r.Key = NewSSKPrivateKey(u.Seed).Public().Hash()
	case KSK:
	default:
		return RequestURI{}, errors.New("a CHK's request URI is known only once its content is encoded")
	}
	return r, nil
}

// WithEdition returns a USK insert URI for another edition of the same site.
func (u InsertURI) WithEdition(n int64) InsertURI { u.Edition = n; return u }

// GenerateSSKURI makes a new subspace: a fresh key pair and crypto key, as a bare insert URI
// "SSK@<seed>,<crypto key>,<extra>/" to which a document name is appended.
func GenerateSSKURI(rand io.Reader) (InsertURI, error) {
	var u InsertURI
	u.Type = SSK
	if _, err := io.ReadFull(rand, u.Seed[:]); err != nil {
		return InsertURI{}, fmt.Errorf("generate SSK: %w", err)
	}
	if _, err := io.ReadFull(rand, u.Crypto[:]); err != nil {
		return InsertURI{}, fmt.Errorf("generate SSK: %w", err)
	}
	return u, nil
}
