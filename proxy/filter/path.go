package filter

import "lethe/crypto"

// Path returns the proxy path of a URI as the filter writes it in pages: "/" and the
// canonical URI, percent-encoded except for the characters that need no quoting in HTML,
// CSS or a srcset (spec §17.3). The proxy uses it for its own links and redirects, so that
// every path a browser asks for has one spelling.
func Path(u crypto.RequestURI) string {
	return escapePath("/" + u.String())
}
