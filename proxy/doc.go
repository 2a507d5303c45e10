// Package proxy is Lethe's browsing proxy (docs/spec.md §20): an HTTP server on loopback
// that lets any browser open keys and sites by their URI ("/USK@…/site/4/page.html"),
// insert files and sites from a form, follow the transfers it started, and watch the node.
//
// Everything a browser would interpret passes through the content filter (package
// proxy/filter, spec §17), so that nothing a page contains can make the browser reach
// anything but the proxy, which would reveal the user. The proxy protects itself too: it
// answers only requests addressed to its own host name (against DNS rebinding), every
// request that changes something needs a token bound to a per-browser secret cookie
// (against cross-site posts), and its own pages carry a policy that allows no script at
// all — every page works with JavaScript switched off.
//
// Content streams: the first bytes of a file reach the browser as soon as its first
// segment is in, ranges of large files are served by fetching from the segment that holds
// their start, and a large file opened in a tab shows a progress page while it is fetched
// in the background.
package proxy
