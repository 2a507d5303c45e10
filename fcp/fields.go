package fcp

import (
	"fmt"
	"mime"
	"strconv"
	"strings"

	"lethe/crypto"
)

// fieldError is a request field that is missing or does not parse: the request is answered
// with a ProtocolError of this code and not run.
type fieldError struct {
	code  int
	extra string
}

func (e *fieldError) Error() string { return e.extra }

func missing(m *Message, key string) error {
	return &fieldError{CodeMissingField, fmt.Sprintf("%s needs %s", m.Name, key)}
}

func invalid(m *Message, key, why string) error {
	return &fieldError{CodeInvalidField, fmt.Sprintf("%s: %s %s", m.Name, key, why)}
}

// requiredField returns the value of key, which must be present and not empty.
func requiredField(m *Message, key string) (string, error) {
	v, ok := m.Get(key)
	if !ok || v == "" {
		return "", missing(m, key)
	}
	return v, nil
}

// parseBool reads a boolean as Freenet's node does: case-insensitive true/false (Python
// clients send "True" and "False"), and yes/no.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "true", "yes":
		return true, true
	case "false", "no":
		return false, true
	}
	return false, false
}

// isTrue is parseBool for places where anything but a true value means false.
func isTrue(s string) bool {
	b, _ := parseBool(s)
	return b
}

func boolField(m *Message, key string, def bool) (bool, error) {
	v, ok := m.Get(key)
	if !ok || v == "" {
		return def, nil
	}
	b, ok := parseBool(v)
	if !ok {
		return false, invalid(m, key, fmt.Sprintf("%q is not true or false", truncate(v, 32)))
	}
	return b, nil
}

func intField(m *Message, key string, def int64) (int64, error) {
	v, ok := m.Get(key)
	if !ok || v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, &fieldError{CodeNumberParse, fmt.Sprintf("%s: %s %q is not a whole number", m.Name, key, truncate(v, 32))}
	}
	return n, nil
}

// boundedInt is intField with a range check.
func boundedInt(m *Message, key string, def, lo, hi int64) (int64, error) {
	n, err := intField(m, key, def)
	if err == nil && (n < lo || n > hi) {
		err = invalid(m, key, fmt.Sprintf("%d is outside %d…%d", n, lo, hi))
	}
	return n, err
}

// Persistence values (spec §16.8).
const (
	persistConnection = "connection"
	persistReboot     = "reboot"
	persistForever    = "forever"
)

func persistenceField(m *Message) (string, error) {
	v, ok := m.Get("Persistence")
	if !ok || v == "" {
		return persistConnection, nil
	}
	switch p := strings.ToLower(v); p {
	case persistConnection, persistReboot, persistForever:
		return p, nil
	}
	return "", invalid(m, "Persistence", fmt.Sprintf("%q is not connection, reboot or forever", truncate(v, 32)))
}

// verbosityField reads the Verbosity bit mask; -1 (which some clients send) means every bit.
func verbosityField(m *Message) (int64, error) {
	return intField(m, "Verbosity", 0)
}

// stripPrefix removes the "freenet:" prefix Freenet's clients may leave on a URI; "lethe:"
// is crypto's own and crypto strips it.
func stripPrefix(s string) string {
	if len(s) >= 8 && strings.EqualFold(s[:8], "freenet:") {
		return s[8:]
	}
	return s
}

func requestURIField(m *Message, key string) (crypto.RequestURI, error) {
	v, err := requiredField(m, key)
	if err != nil {
		return crypto.RequestURI{}, err
	}
	u, err := crypto.ParseURI(stripPrefix(v))
	if err != nil {
		return crypto.RequestURI{}, &fieldError{CodeURIParse, fmt.Sprintf("%s: %s: %v", m.Name, key, err)}
	}
	return u, nil
}

func insertURIField(m *Message, key string) (crypto.InsertURI, error) {
	v, err := requiredField(m, key)
	if err != nil {
		return crypto.InsertURI{}, err
	}
	u, err := crypto.ParseInsertURI(stripPrefix(v))
	if err != nil {
		return crypto.InsertURI{}, &fieldError{CodeURIParse, fmt.Sprintf("%s: %s: %v", m.Name, key, err)}
	}
	return u, nil
}

// contentTypeField reads a MIME type; a malformed one is ProtocolError 35, as in Freenet.
func contentTypeField(m *Message, key string) (string, error) {
	v, ok := m.Get(key)
	if !ok || v == "" {
		return "", nil
	}
	if _, _, err := mime.ParseMediaType(v); err != nil || !strings.Contains(v, "/") {
		return "", &fieldError{CodeBadMIMEType, fmt.Sprintf("%s: %s %q is not a MIME type", m.Name, key, truncate(v, 64))}
	}
	return v, nil
}

// commonFields are read alike by ClientPut, ClientPutComplexDir and ClientGet.
type commonFields struct {
	identifier  string
	global      bool
	persistence string
	verbosity   int64
	priority    int
	maxRetries  int
	session     string // Lethe's Session field: requests of one connection that form one session
}

func readCommon(m *Message) (commonFields, error) {
	var f commonFields
	var err error
	if f.identifier, err = requiredField(m, "Identifier"); err != nil {
		return f, err
	}
	if f.global, err = boolField(m, "Global", false); err != nil {
		return f, err
	}
	if f.persistence, err = persistenceField(m); err != nil {
		return f, err
	}
	if f.verbosity, err = verbosityField(m); err != nil {
		return f, err
	}
	if f.session, err = sessionField(m, f.persistence); err != nil {
		return f, err
	}
	p, err := boundedInt(m, "PriorityClass", 2, 0, 6)
	if err != nil {
		return f, err
	}
	f.priority = int(p)
	r, err := boundedInt(m, "MaxRetries", 0, -1, 1<<31-1)
	if err != nil {
		return f, err
	}
	f.maxRetries = int(r)
	// Booleans every request may carry; they must parse even though Lethe does not act on
	// them.
	for _, key := range []string{"RealTimeFlag", "LocalRequestOnly", "IgnoreUSKDatehints", "EarlyEncode"} {
		if _, err := boolField(m, key, false); err != nil {
			return f, err
		}
	}
	return f, nil
}

// maxSessionName bounds Lethe's Session field.
const maxSessionName = 64

// sessionField reads Lethe's own Session field (spec §16.5): a name the client gives the
// requests of one connection that belong together. Requests on the persistent queues
// outlive the connection, so only connection requests may name a session.
func sessionField(m *Message, persistence string) (string, error) {
	v := m.Value("Session")
	switch {
	case v == "":
		return "", nil
	case len(v) > maxSessionName:
		return "", invalid(m, "Session", fmt.Sprintf("is longer than %d bytes", maxSessionName))
	case persistence != persistConnection:
		return "", invalid(m, "Session", "names a session of this connection: it is for Persistence=connection requests")
	}
	return v, nil
}
