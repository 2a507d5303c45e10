package crypto

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
)

// Encryption of content to age recipients (spec §15). A file inserted "to" recipients is
// encrypted with age before it is split into blocks, so that only holders of a matching
// identity can read it even though anyone with the URI can fetch the blocks.
//
// Two recipient kinds are accepted: the classic X25519 "age1…" and the post-quantum hybrid
// ML-KEM-768 + X25519 "age1pq1…". age refuses to mix the two in one file, because a hybrid
// recipient beside a classic one would lose its post-quantum protection; the error says so.

// ErrAgeNoIdentity: none of the identities given can decrypt the file.
var ErrAgeNoIdentity = errors.New("no age identity matches the file")

// MaxAgeRecipients bounds the recipients of one file. Each costs a stanza in the age header
// (a hybrid one about 1.6 KB), and the header travels in the first blocks of the content.
const MaxAgeRecipients = 64

// CheckAgeRecipients reports whether recipients can be encrypted to, so that a caller can refuse
// an insert before reading any of its data. The error names the recipient that is wrong.
func CheckAgeRecipients(recipients []string) error {
	rs, err := parseAgeRecipients(recipients)
	if err != nil {
		return err
	}
	if _, err := age.Encrypt(io.Discard, rs...); err != nil {
		return fmt.Errorf("age: %w", err)
	}
	return nil
}

// parseAgeRecipients parses "age1pq1…" (post-quantum hybrid) and "age1…" (X25519) recipients.
func parseAgeRecipients(recipients []string) ([]age.Recipient, error) {
	if len(recipients) == 0 {
		return nil, errors.New("age: no recipients")
	}
	if len(recipients) > MaxAgeRecipients {
		return nil, fmt.Errorf("age: %d recipients, at most %d", len(recipients), MaxAgeRecipients)
	}
	out := make([]age.Recipient, 0, len(recipients))
	for _, s := range recipients {
		var (
			r   age.Recipient
			err error
		)
		switch {
		case strings.HasPrefix(s, "age1pq1"):
			r, err = age.ParseHybridRecipient(s)
		case strings.HasPrefix(s, "age1"):
			r, err = age.ParseX25519Recipient(s)
		default:
			err = fmt.Errorf("%q is not an age recipient (want age1… or age1pq1…)", shorten(s))
		}
		if err != nil {
			return nil, fmt.Errorf("age: %w", err)
		}
		out = append(out, r)
	}
	return out, nil
}

// EncryptTo returns a writer that encrypts what is written to it for the recipients and
// writes the age file to w. Close must be called to write the final chunk; it does not close
// w.
func EncryptTo(w io.Writer, recipients []string) (io.WriteCloser, error) {
	rs, err := parseAgeRecipients(recipients)
	if err != nil {
		return nil, err
	}
	ew, err := age.Encrypt(w, rs...)
	if err != nil {
		return nil, fmt.Errorf("age: %w", err)
	}
	return ew, nil
}

// DecryptWith reads an age file from r and returns its plaintext, using the identities in
// identityFile (the text of an age identity file: "AGE-SECRET-KEY-1…" or
// "AGE-SECRET-KEY-PQ-1…" lines, "#" comments). The returned reader fails if the file was
// altered: age authenticates every 64 KiB chunk and the end of the stream.
func DecryptWith(r io.Reader, identityFile io.Reader) (io.Reader, error) {
	ids, err := age.ParseIdentities(identityFile)
	if err != nil {
		// age's parse errors never include key material.
		return nil, fmt.Errorf("age: read identities: %w", err)
	}
	pr, err := age.Decrypt(r, ids...)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			return nil, fmt.Errorf("%w: %v", ErrAgeNoIdentity, err)
		}
		return nil, fmt.Errorf("age: %w", err)
	}
	return pr, nil
}

// GenerateAgeIdentity makes a new age identity and returns the identity file line and the
// recipient to share. postQuantum selects the hybrid ML-KEM-768 + X25519 kind. age draws its
// randomness from the operating system itself.
func GenerateAgeIdentity(postQuantum bool) (identity, recipient string, err error) {
	if postQuantum {
		id, err := age.GenerateHybridIdentity()
		if err != nil {
			return "", "", fmt.Errorf("age: %w", err)
		}
		return id.String(), id.Recipient().String(), nil
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", "", fmt.Errorf("age: %w", err)
	}
	return id.String(), id.Recipient().String(), nil
}

func shorten(s string) string {
	if len(s) > 24 {
		return s[:21] + "..."
	}
	return s
}
