package metadata

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"lethe/crypto"
)

// Document format, version 1 (spec §12). All integers are big-endian and of fixed width, so
// that each document has exactly one encoding.
const (
	Version = 1

	MaxMIMELength = 255       // bytes of a MIME type
	MaxNameLength = 255       // bytes of a manifest entry name, as a URI path component
	MaxEntries    = 1 << 16   // entries of one manifest level
	MaxDepth      = 32        // manifests nested inside one document
	MaxSize       = 1 << 53   // bytes of content a document can describe
	MaxDocument   = 128 << 20 // bytes of one encoded document (nested metadata included)
)

// Kind says what a document holds.
type Kind uint8

const (
	KindInline    Kind = 1 // the content itself, after the header
	KindRedirect  Kind = 2 // another URI that holds the content
	KindSplitfile Kind = 3 // the keys of the CHK blocks the content was split into
	KindManifest  Kind = 4 // names mapped to documents: a directory, a site
	KindParts     Kind = 5 // a stored stream too long for one splitfile, in pieces
)

func (k Kind) String() string {
	switch k {
	case KindInline:
		return "inline"
	case KindRedirect:
		return "redirect"
	case KindSplitfile:
		return "splitfile"
	case KindManifest:
		return "manifest"
	case KindParts:
		return "parts"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Codec says how content was compressed before it was (optionally) encrypted and stored.
type Codec uint8

const (
	CodecNone Codec = 0
	CodecZstd Codec = 1 // Zstandard (RFC 8878), window at most MaxZstdWindow
)

func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("Codec(%d)", uint8(c))
}

// ErrMalformed is the sentinel under every decoding error: the bytes are not a valid
// version-1 document. The wrapping error says what is wrong.
var ErrMalformed = errors.New("malformed metadata")

// Document is one metadata document (spec §12.1). Which fields are used depends on Kind.
type Document struct {
	Kind Kind

	// Inline and Splitfile: how to read the stored bytes. The stored stream is the content
	// compressed with Codec, then, if Age, encrypted with age; Size is the length of the
	// content a reader finally gets. Redirect: MIMEType is a hint, and may be empty.
	MIMEType string
	Codec    Codec
	Age      bool
	Size     int64

	Data     []byte            // Inline: the stored stream
	Target   crypto.RequestURI // Redirect: where the content is
	Split    *Splitfile        // Splitfile: the blocks
	Entries  []Entry           // Manifest: sorted by Name, names unique
	Default  string            // Manifest: the entry a path ending here means ("" for none)
	Metadata bool              // Splitfile: the joined stream is itself a document (nested)
	Parts    []Part            // Parts: the pieces of the stored stream, in order
}

// Entry is one name in a manifest: a file (Inline, Redirect or Splitfile) or a
// subdirectory (Manifest).
type Entry struct {
	Name string
	Doc  *Document
}

// Lookup finds the entry called name in a manifest, or returns nil.
func (d *Document) Lookup(name string) *Document {
	i, ok := slices.BinarySearchFunc(d.Entries, name, func(e Entry, n string) int { return strings.Compare(e.Name, n) })
	if !ok {
		return nil
	}
	return d.Entries[i].Doc
}

const (
	flagAge      = 1 << 0
	flagMetadata = 1 << 1
)

// Encode returns the canonical bytes of d, or an error if d is not a valid document.
func (d *Document) Encode() ([]byte, error) {
	return d.appendTo(nil, 0)
}

func (d *Document) appendTo(b []byte, depth int) ([]byte, error) {
	if err := d.check(depth); err != nil {
		return nil, err
	}
	b = append(b, Version, byte(d.Kind))
	switch d.Kind {
	case KindInline:
		b = d.appendContentHeader(b)
		b = append(b, d.Data...)
	case KindRedirect:
		b = appendString8(b, d.MIMEType)
		t := d.Target.String()
		b = binary.BigEndian.AppendUint16(b, uint16(len(t)))
		b = append(b, t...)
	case KindSplitfile:
		b = d.appendContentHeader(b)
		b = d.Split.appendTo(b)
	case KindParts:
		b = d.appendContentHeader(b)
		b = appendParts(b, d.Parts)
	case KindManifest:
		b = appendString8(b, d.Default)
		b = binary.BigEndian.AppendUint32(b, uint32(len(d.Entries)))
		for _, e := range d.Entries {
			b = appendString8(b, e.Name)
			at := len(b)
			b = append(b, 0, 0, 0, 0) // length, filled in below
			var err error
			if b, err = e.Doc.appendTo(b, depth+1); err != nil {
				return nil, fmt.Errorf("entry %q: %w", e.Name, err)
			}
			binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-4))
		}
	}
	if len(b) > MaxDocument {
		return nil, fmt.Errorf("metadata: document is %d bytes, at most %d", len(b), MaxDocument)
	}
	return b, nil
}

func (d *Document) appendContentHeader(b []byte) []byte {
	var flags byte
	if d.Age {
		flags |= flagAge
	}
	if d.Metadata {
		flags |= flagMetadata
	}
	b = append(b, flags, byte(d.Codec))
	b = appendString8(b, d.MIMEType)
	return binary.BigEndian.AppendUint64(b, uint64(d.Size))
}

func appendString8(b []byte, s string) []byte {
	b = append(b, byte(len(s)))
	return append(b, s...)
}

// check validates the fields Encode writes, with the same rules Decode enforces, so that
// Decode(Encode(d)) always succeeds and gives d back.
func (d *Document) check(depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("%w: manifests nested deeper than %d", ErrMalformed, MaxDepth)
	}
	switch d.Kind {
	case KindInline, KindSplitfile, KindParts:
		if err := checkMIME(d.MIMEType); err != nil {
			return err
		}
		if d.Codec > CodecZstd {
			return fmt.Errorf("%w: unknown codec %d", ErrMalformed, d.Codec)
		}
		if d.Size < 0 || d.Size > MaxSize {
			return fmt.Errorf("%w: size %d out of range", ErrMalformed, d.Size)
		}
		if d.Kind == KindInline {
			if d.Metadata {
				return fmt.Errorf("%w: inline data cannot be nested metadata", ErrMalformed)
			}
			if d.Split != nil {
				return fmt.Errorf("%w: inline document with a splitfile", ErrMalformed)
			}
			if d.Codec == CodecNone && !d.Age && d.Size != int64(len(d.Data)) {
				return fmt.Errorf("%w: inline size %d but %d bytes of data", ErrMalformed, d.Size, len(d.Data))
			}
			return nil
		}
		if d.Kind == KindParts {
			if d.Metadata || d.Split != nil {
				return fmt.Errorf("%w: parts with a splitfile or marked as metadata", ErrMalformed)
			}
			if err := checkParts(d.Parts); err != nil {
				return err
			}
			if d.Codec == CodecNone && !d.Age && d.Size != PartsLength(d.Parts) {
				return fmt.Errorf("%w: size %d but parts of %d bytes", ErrMalformed, d.Size, PartsLength(d.Parts))
			}
			return nil
		}
		if d.Split == nil {
			return fmt.Errorf("%w: splitfile without segments", ErrMalformed)
		}
		if err := d.Split.check(); err != nil {
			return err
		}
		plain := d.Codec == CodecNone && !d.Age
		if d.Metadata && (!plain || d.MIMEType != "") {
			return fmt.Errorf("%w: nested metadata with a codec, age or MIME type", ErrMalformed)
		}
		if plain && d.Size != d.Split.Length {
			return fmt.Errorf("%w: size %d but stream of %d bytes", ErrMalformed, d.Size, d.Split.Length)
		}
		return nil
	case KindRedirect:
		if err := checkMIME(d.MIMEType); err != nil {
			return err
		}
		if d.Target.Type == 0 {
			return fmt.Errorf("%w: redirect without a target", ErrMalformed)
		}
		if u, err := crypto.ParseURI(d.Target.String()); err != nil || u != d.Target {
			return fmt.Errorf("%w: redirect target is not a valid URI", ErrMalformed)
		}
		return nil
	case KindManifest:
		if len(d.Entries) > MaxEntries {
			return fmt.Errorf("%w: %d entries, at most %d", ErrMalformed, len(d.Entries), MaxEntries)
		}
		for i, e := range d.Entries {
			if err := CheckName(e.Name); err != nil {
				return fmt.Errorf("%w: %v", ErrMalformed, err)
			}
			if i > 0 && d.Entries[i-1].Name >= e.Name {
				return fmt.Errorf("%w: entries not sorted or not unique at %q", ErrMalformed, e.Name)
			}
			if e.Doc == nil {
				return fmt.Errorf("%w: entry %q has no document", ErrMalformed, e.Name)
			}
		}
		if d.Default != "" && d.Lookup(d.Default) == nil {
			return fmt.Errorf("%w: default %q names no entry", ErrMalformed, d.Default)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown kind %d", ErrMalformed, d.Kind)
}

// CheckName reports whether name can be a manifest entry: what a URI path component may be
// (spec §6.1), so that every entry can be reached by a URI.
func CheckName(name string) error {
	switch {
	case name == "":
		return errors.New("empty name")
	case len(name) > MaxNameLength:
		return fmt.Errorf("name is %d bytes, at most %d", len(name), MaxNameLength)
	case name == "." || name == "..":
		return fmt.Errorf("name %q is not allowed", name)
	case !utf8.ValidString(name):
		return errors.New("name is not valid UTF-8")
	case strings.ContainsRune(name, '/'):
		return fmt.Errorf("name %q contains '/'", name)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return fmt.Errorf("name %q contains a control character", name)
	}
	return nil
}

// checkMIME allows printable ASCII only: a MIME type is handed to browsers as a header value.
func checkMIME(s string) error {
	if len(s) > MaxMIMELength {
		return fmt.Errorf("%w: MIME type is %d bytes, at most %d", ErrMalformed, len(s), MaxMIMELength)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return fmt.Errorf("%w: MIME type has a byte 0x%02x outside printable ASCII", ErrMalformed, s[i])
		}
	}
	return nil
}

// Decode parses a document. It accepts exactly the bytes Encode produces for some valid
// document: anything else is an error wrapping ErrMalformed that says what is wrong.
func Decode(b []byte) (*Document, error) {
	if len(b) > MaxDocument {
		return nil, fmt.Errorf("%w: document is %d bytes, at most %d", ErrMalformed, len(b), MaxDocument)
	}
	r := reader{b: b}
	d := r.document(0)
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	return d, nil
}

// reader consumes a document front to back; the first error sticks and later reads return
// zero values, so that the decoder reads as a straight line.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	r.b = nil
}

func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.fail("%s: need %d bytes, %d left", what, n, len(r.b))
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8(what string) byte {
	v := r.take(1, what)
	if v == nil {
		return 0
	}
	return v[0]
}

func (r *reader) u16(what string) int {
	v := r.take(2, what)
	if v == nil {
		return 0
	}
	return int(binary.BigEndian.Uint16(v))
}

func (r *reader) u32(what string) int64 {
	v := r.take(4, what)
	if v == nil {
		return 0
	}
	return int64(binary.BigEndian.Uint32(v))
}

func (r *reader) u64(what string) uint64 {
	v := r.take(8, what)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func (r *reader) string8(what string) string {
	n := int(r.u8(what + " length"))
	return string(r.take(n, what))
}

func (r *reader) document(depth int) *Document {
	if v := r.u8("version"); r.err == nil && v != Version {
		r.fail("version %d, this is version %d", v, Version)
	}
	d := &Document{Kind: Kind(r.u8("kind"))}
	if r.err != nil {
		return nil
	}
	switch d.Kind {
	case KindInline:
		r.contentHeader(d)
		d.Data = r.take(len(r.b), "data")
	case KindRedirect:
		d.MIMEType = r.string8("MIME type")
		t := string(r.take(r.u16("target length"), "target"))
		if r.err != nil {
			return nil
		}
		u, err := crypto.ParseURI(t)
		if err != nil {
			r.fail("redirect target: %v", err)
			return nil
		}
		if u.String() != t {
			r.fail("redirect target is not in canonical form")
			return nil
		}
		d.Target = u
	case KindSplitfile:
		r.contentHeader(d)
		d.Split = r.splitfile()
	case KindParts:
		r.contentHeader(d)
		d.Parts = r.parts()
	case KindManifest:
		d.Default = r.string8("default name")
		n := r.u32("entry count")
		// Each entry takes at least 1+1+4+2+... bytes; bound the count by what remains
		// before allocating.
		if r.err == nil && (n > MaxEntries || n > int64(len(r.b))/8) {
			r.fail("%d entries do not fit in %d bytes or exceed %d", n, len(r.b), MaxEntries)
		}
		if r.err != nil {
			return nil
		}
		if depth >= MaxDepth {
			r.fail("manifests nested deeper than %d", MaxDepth)
			return nil
		}
		if n > 0 {
			d.Entries = make([]Entry, 0, n)
		}
		for i := int64(0); i < n && r.err == nil; i++ {
			name := r.string8("entry name")
			body := r.take(int(r.u32("entry length")), "entry")
			if r.err != nil {
				break
			}
			sub := reader{b: body}
			doc := sub.document(depth + 1)
			if sub.err == nil && len(sub.b) != 0 {
				sub.fail("%d trailing bytes", len(sub.b))
			}
			if sub.err != nil {
				r.err = fmt.Errorf("entry %q: %w", strings.ToValidUTF8(name, "?"), sub.err)
				break
			}
			d.Entries = append(d.Entries, Entry{Name: name, Doc: doc})
		}
	default:
		r.fail("unknown kind %d", d.Kind)
	}
	if r.err != nil {
		return nil
	}
	if err := d.check(depth); err != nil {
		r.err = err
		return nil
	}
	return d
}

func (r *reader) contentHeader(d *Document) {
	flags := r.u8("flags")
	if flags&^(flagAge|flagMetadata) != 0 {
		r.fail("unknown flags 0x%02x", flags)
	}
	if d.Kind != KindSplitfile && flags&flagMetadata != 0 {
		r.fail("%v document marked as metadata", d.Kind)
	}
	d.Age = flags&flagAge != 0
	d.Metadata = flags&flagMetadata != 0
	d.Codec = Codec(r.u8("codec"))
	d.MIMEType = r.string8("MIME type")
	size := r.u64("size")
	if size > MaxSize {
		r.fail("size %d exceeds %d", size, int64(MaxSize))
	}
	d.Size = int64(min(size, math.MaxInt64))
}
