// Package filter implements the proxy's content filter (docs/spec.md §17): it decides how each
// response may reach the browser and rewrites what the browser would interpret so that nothing
// a page contains can make the browser reach anything but the proxy, which would reveal the
// user (spec §17).
//
// HTML is tokenised with golang.org/x/net/html and re-serialised from an allow-list of elements
// and attributes; CSS (files, <style> and style=) is tokenised by a CSS Syntax Level 3
// tokenizer of this package and re-serialised from what survives; images are passed only when
// their bytes are what they claim, with metadata stripped; everything else is a download. Every
// URL that survives is an absolute path on the proxy: a key path ("/CHK@…") or, for links out
// of the network, the proxy's warning page "/external?url=…".
//
// The filters stream: output begins before the input ends, and memory is bounded whatever the
// input (see the limits in limits.go).
package filter
