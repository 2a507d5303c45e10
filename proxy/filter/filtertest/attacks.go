// Package filtertest holds the attack inputs of the content filter (docs/spec.md §17), for
// the filter's own tests and for the proxy's test in a real browser. It is not part of any
// product path.
package filtertest

import (
	_ "embed"
	"fmt"
	"strconv"
	"strings"
)

//go:embed attacks.txt
var attacksText string

// Attack is one hostile input: a page or a stylesheet.
type Attack struct {
	Name, Input string
}

// Key and Host are the placeholders in the inputs: a valid key path without its leading
// slash, and a host outside the network.
const (
	Key  = "KEY"
	Host = "evil.example"
)

// HTML and CSS are the attack pages and stylesheets of attacks.txt.
var HTML, CSS = parse()

func parse() (html, css []Attack) {
	var section *[]Attack
	for i, line := range strings.Split(attacksText, "\n") {
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case line == "[html]":
			section = &html
		case line == "[css]":
			section = &css
		default:
			name, quoted, ok := strings.Cut(line, "\t")
			in, err := strconv.Unquote(quoted)
			if !ok || err != nil || section == nil {
				panic(fmt.Sprintf("filtertest: attacks.txt line %d is not a name, a tab and a Go string in a section", i+1))
			}
			*section = append(*section, Attack{Name: name, Input: in})
		}
	}
	return html, css
}
