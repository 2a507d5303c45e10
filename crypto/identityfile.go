package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
)

// Identity files (spec §7.1). A node keeps its identity seed in one file in its data
// directory, either as plain text or sealed with an age passphrase. These are the pure
// encodings; reading and writing the file with safe permissions is the transport package's
// job.
//
// Plain form, 67 bytes:
//
//	lethe-node-identity v1\n
//	<seed, 43 characters of spec §1.2 base64>\n
//
// Sealed form: an age file (binary format, scrypt passphrase recipient) whose plaintext is
// exactly the plain form.

const (
	// MaxIdentityFileSize bounds what OpenIdentity reads: a sealed file is about 300 bytes.
	MaxIdentityFileSize = 4096

	// DefaultIdentityWorkFactor is age's default scrypt work factor (2^18, about a second),
	// which makes each passphrase guess cost an attacker as much as an unlock costs the user.
	DefaultIdentityWorkFactor = 18

	identityFileHeader = "lethe-node-identity v1\n"
	ageHeader          = "age-encryption.org/v1\n"

	// maxIdentityWorkFactor is the largest scrypt work factor OpenIdentity accepts: 2^20,
	// which costs scrypt (r = 8) 1 GiB of memory and a few seconds. Lethe writes 2^18; a
	// file asking for more than 2^20 was not written by Lethe and could stall the node.
	maxIdentityWorkFactor = 20
)

var (
	// ErrPassphraseRequired: the identity file is sealed and no passphrase was given.
	ErrPassphraseRequired = errors.New("identity file is protected by a passphrase")
	// ErrWrongPassphrase: the passphrase does not open the sealed identity file.
	ErrWrongPassphrase = errors.New("wrong passphrase for the identity file")
	// ErrIdentityFile: the file is neither a plain nor a sealed identity file.
	ErrIdentityFile = errors.New("malformed identity file")
)

// MarshalIdentity returns the plain, unencrypted identity file of n. Whoever reads it can
// impersonate the node: store it with permissions 0600 or seal it.
func MarshalIdentity(n *NodeIdentity) []byte {
	seed := n.Seed()
	return []byte(identityFileHeader + encodeKey(seed[:]) + "\n")
}

// SealIdentity returns the identity file of n encrypted to passphrase with age's scrypt
// recipient. workFactor is the base-2 logarithm of scrypt's cost; 0 means
// DefaultIdentityWorkFactor. Tests pass a small one.
func SealIdentity(n *NodeIdentity, passphrase string, workFactor int) ([]byte, error) {
	if passphrase == "" {
		return nil, errors.New("seal identity: empty passphrase")
	}
	if workFactor == 0 {
		workFactor = DefaultIdentityWorkFactor
	}
	if workFactor < 1 || workFactor > maxIdentityWorkFactor {
		return nil, fmt.Errorf("seal identity: work factor %d outside 1..%d", workFactor, maxIdentityWorkFactor)
	}
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		return nil, fmt.Errorf("seal identity: %w", err)
	}
	r.SetWorkFactor(workFactor)
	var out bytes.Buffer
	w, err := age.Encrypt(&out, r)
	if err != nil {
		return nil, fmt.Errorf("seal identity: %w", err)
	}
	if _, err := w.Write(MarshalIdentity(n)); err != nil {
		return nil, fmt.Errorf("seal identity: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("seal identity: %w", err)
	}
	return out.Bytes(), nil
}

// IdentitySealed reports whether data is a sealed (age) identity file.
func IdentitySealed(data []byte) bool { return bytes.HasPrefix(data, []byte(ageHeader)) }

// OpenIdentity reads an identity file in either form. A plain file opens with any
// passphrase, including none; a sealed one needs the passphrase it was sealed with
// (ErrPassphraseRequired, ErrWrongPassphrase).
func OpenIdentity(data []byte, passphrase string) (*NodeIdentity, error) {
	if len(data) > MaxIdentityFileSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrIdentityFile, len(data), MaxIdentityFileSize)
	}
	if !IdentitySealed(data) {
		return parsePlainIdentity(data)
	}
	if passphrase == "" {
		return nil, ErrPassphraseRequired
	}
	id, err := age.NewScryptIdentity(passphrase)
	if err != nil {
		return nil, fmt.Errorf("open identity: %w", err)
	}
	id.SetMaxWorkFactor(maxIdentityWorkFactor)
	r, err := age.Decrypt(bytes.NewReader(data), id)
	if err != nil {
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			return nil, ErrWrongPassphrase
		}
		return nil, fmt.Errorf("%w: %v", ErrIdentityFile, err)
	}
	// The plaintext of a well-formed file is exactly the plain form; read at most one byte
	// more than that so an oversized plaintext is refused without buffering it.
	plain, err := io.ReadAll(io.LimitReader(r, int64(len(identityFileHeader)+44)+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIdentityFile, err)
	}
	return parsePlainIdentity(plain)
}

func parsePlainIdentity(data []byte) (*NodeIdentity, error) {
	rest, ok := bytes.CutPrefix(data, []byte(identityFileHeader))
	if !ok {
		return nil, fmt.Errorf("%w: does not start with %q", ErrIdentityFile, identityFileHeader[:len(identityFileHeader)-1])
	}
	line, ok := bytes.CutSuffix(rest, []byte("\n"))
	if !ok || bytes.IndexByte(line, '\n') >= 0 {
		return nil, fmt.Errorf("%w: want exactly one seed line after the header", ErrIdentityFile)
	}
	var seed [NodeIdentitySeedSize]byte
	if err := decodeKey("identity seed", string(line), seed[:]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIdentityFile, err)
	}
	return NewNodeIdentity(seed), nil
}
