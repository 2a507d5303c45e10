package metadata

import (
	"net/http"
	"path"
	"strings"
)

// DefaultMIMEType is what content is called when neither its name nor its first bytes say.
const DefaultMIMEType = "application/octet-stream"

// mimeByExtension is Lethe's own table, not the operating system's (mime.TypeByExtension
// reads /etc/mime.types), so that the same file gets the same metadata, and thus the same
// key in convergent mode, on every machine.
var mimeByExtension = map[string]string{
	".7z":    "application/x-7z-compressed",
	".avif":  "image/avif",
	".bz2":   "application/x-bzip2",
	".css":   "text/css",
	".csv":   "text/csv",
	".epub":  "application/epub+zip",
	".flac":  "audio/flac",
	".gif":   "image/gif",
	".gz":    "application/gzip",
	".htm":   "text/html",
	".html":  "text/html",
	".ico":   "image/vnd.microsoft.icon",
	".jpeg":  "image/jpeg",
	".jpg":   "image/jpeg",
	".js":    "text/javascript",
	".json":  "application/json",
	".md":    "text/markdown",
	".mjs":   "text/javascript",
	".mkv":   "video/x-matroska",
	".mp3":   "audio/mpeg",
	".mp4":   "video/mp4",
	".oga":   "audio/ogg",
	".ogg":   "audio/ogg",
	".ogv":   "video/ogg",
	".opus":  "audio/ogg",
	".otf":   "font/otf",
	".pdf":   "application/pdf",
	".png":   "image/png",
	".svg":   "image/svg+xml",
	".tar":   "application/x-tar",
	".txt":   "text/plain",
	".wasm":  "application/wasm",
	".wav":   "audio/wav",
	".webm":  "video/webm",
	".webp":  "image/webp",
	".woff":  "font/woff",
	".woff2": "font/woff2",
	".xhtml": "application/xhtml+xml",
	".xml":   "application/xml",
	".xz":    "application/x-xz",
	".zip":   "application/zip",
	".zst":   "application/zstd",
}

// MIMEType names the type of content called name (a file name or path, may be empty) whose
// first bytes are head: by the name's extension where Lethe knows it, else by sniffing head
// as browsers do (the WHATWG algorithm of net/http.DetectContentType).
func MIMEType(name string, head []byte) string {
	if t, ok := mimeByExtension[strings.ToLower(path.Ext(name))]; ok {
		return t
	}
	if len(head) == 0 {
		return DefaultMIMEType
	}
	return http.DetectContentType(head)
}
