package filter

import (
	"mime"
	"net/http"
)

// ContentSecurityPolicy is sent with every response the filter passes (spec §17.6). It
// repeats, in the browser, what the filter enforces in the bytes, so that a mistake in one
// is caught by the other:
//   - default-src 'self': every fetch goes to the proxy's own origin; data:, blob: and other
//     hosts are refused. 'self' is the proxy because every page is served from it.
//   - script-src 'none', object-src 'none', worker-src 'none': nothing runs.
//   - style-src adds 'unsafe-inline' because filtered pages keep their <style> elements and
//     style attributes; both went through the CSS filter.
//   - connect-src, frame-src, child-src, manifest-src 'none': a filtered page has no use for
//     them, so no fetch can hide there.
//   - base-uri 'none': no <base> can move relative references; form-action 'self'.
//   - frame-ancestors 'none' (stricter than 'self'): the proxy frames nothing, so no page,
//     inside Lethe or out, can frame filtered content to trick a click.
//   - sandbox without allow-scripts: a third, independent switch that disables scripts and
//     plugins. It keeps allow-same-origin because browsers disagree on what 'self' means in
//     an opaque origin and fonts would need CORS; the origin is protected by the CSRF tokens
//     of the proxy's own pages.
const ContentSecurityPolicy = "default-src 'self'; script-src 'none'; object-src 'none'; " +
	"worker-src 'none'; style-src 'self' 'unsafe-inline'; connect-src 'none'; frame-src 'none'; " +
	"child-src 'none'; manifest-src 'none'; base-uri 'none'; form-action 'self'; " +
	"frame-ancestors 'none'; sandbox allow-same-origin allow-forms allow-popups " +
	"allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation allow-downloads"

// Header returns the response headers for content passed under this decision: its
// Content-Type, the Content-Security-Policy, X-Content-Type-Options: nosniff (the browser
// must not second-guess the type), Referrer-Policy: no-referrer, X-Frame-Options: DENY
// (for browsers without frame-ancestors), Cross-Origin-Resource-Policy: same-origin (no page
// outside the proxy can embed Lethe content, which would tell it that a node runs here and
// what it holds), and for Download and Warn a Content-Disposition: attachment with the file
// name. The proxy adds its own headers (Cache-Control, Content-Length) beside these.
func (d Decision) Header() http.Header {
	h := http.Header{}
	ct := d.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if d.Action != Render && d.Action != Inline {
		name := d.Name
		if name == "" {
			name = "download"
		}
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	}
	return h
}
