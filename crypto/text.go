package crypto

// EncodeText writes b in Lethe's base64 alphabet (spec §1.2), as keys and node IDs are
// written. Other packages use it for signatures in text formats, such as noderefs.
func EncodeText(b []byte) string { return encodeKey(b) }

// DecodeText decodes exactly len(dst) bytes written by EncodeText, strictly: one spelling
// per value. what names the field in the error.
func DecodeText(what, s string, dst []byte) error { return decodeKey(what, s, dst) }
