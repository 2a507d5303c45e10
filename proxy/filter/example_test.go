package filter_test

import (
	"fmt"
	"os"
	"strings"

	"lethe/crypto"
	"lethe/proxy/filter"
)

// The proxy's use of the filter for one response: decide, send the headers, filter the body.
func ExampleDecide() {
	d := filter.Decide("text/html; charset=utf-8", "index.html")
	h := d.Header()
	fmt.Println(d.Action, h.Get("Content-Type"))
	fmt.Println(h.Get("X-Content-Type-Options"), h.Get("Referrer-Policy"))

	d = filter.Decide("application/pdf", "report.pdf")
	fmt.Println(d.Action, d.Header().Get("Content-Disposition"))
	// Output:
	// render text/html; charset=utf-8
	// nosniff no-referrer
	// warn attachment; filename=report.pdf
}

func ExampleHTML() {
	var chk crypto.RequestURI
	chk.Type = crypto.CHK
	page := filter.Page{Path: "/" + chk.String() + "/site/index.html"}
	in := `<p onclick="steal()">Hello <a href="next.html">next</a>, <a href="https://example.org/">out</a>` +
		`<img src="http://tracker.example/pixel.gif"><script>steal()</script>`
	if err := filter.HTML(os.Stdout, strings.NewReader(in), page); err != nil {
		fmt.Println(err)
	}
	// Output:
	// <p>Hello <a href="/CHK@AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,AQABAQA/site/next.html">next</a>, <a href="/external?url=https%3A%2F%2Fexample.org%2F">out</a><img></p>
}
