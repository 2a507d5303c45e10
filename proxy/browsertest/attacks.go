package browsertest

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"strings"

	"lethe/proxy/filter/filtertest"
)

// Site is a site made to attack the proxy and its content filter.
type Site struct {
	// Files are the site's files by path; index.html lists the pages.
	Files map[string][]byte
	// Pages are the paths of the site's pages, "/" first: each must be served as a page
	// (status 200).
	Pages []string
	// Others are the paths of files that are not pages but claim or seem to be; opening
	// them must show them as text, a warning or an error, never as markup.
	Others []string
}

// AttackSite builds a site of every attack input of the content filter (package
// filtertest), plus attacks on the proxy itself, all aimed at target (a Canary's address)
// instead of an outside host. images is the request URI, without its leading slash, of a
// site holding ImageFiles: the attacks that reference content inside the network use it.
func AttackSite(target, images string) Site {
	aim := func(s string) string {
		s = strings.ReplaceAll(s, filtertest.Host, target)
		return strings.ReplaceAll(s, filtertest.Key, images)
	}
	site := Site{Files: map[string][]byte{}, Pages: []string{"/"}}
	var index strings.Builder
	index.WriteString("<!DOCTYPE html><title>Attacks</title><h1>Attacks on the filter</h1><ul>\n")
	add := func(name, title, body string) {
		site.Files[name] = []byte(body)
		site.Pages = append(site.Pages, "/"+name)
		fmt.Fprintf(&index, "<li><a href=%q>%s</a>\n", name, title)
	}
	for i, a := range filtertest.HTML {
		add(fmt.Sprintf("html/%03d.html", i), a.Name,
			fmt.Sprintf("<!DOCTYPE html><html><head><title>%s</title></head><body><p>%s</p>\n%s\n</body></html>", a.Name, a.Name, aim(a.Input)))
	}
	// Each stylesheet attack three ways — a linked stylesheet, a <style> element and a style
	// attribute — several attacks to a page: every stylesheet and element is parsed on its
	// own, so one attack cannot hide the next as an unclosed <script> would in a page.
	const perPage = 8
	for first := 0; first < len(filtertest.CSS); first += perPage {
		var page strings.Builder
		page.WriteString("<!DOCTYPE html><title>stylesheets</title><a href=x>link</a>\n")
		for i := first; i < min(first+perPage, len(filtertest.CSS)); i++ {
			a := filtertest.CSS[i]
			in := aim(a.Input)
			site.Files[fmt.Sprintf("css/%03d.css", i)] = []byte(in)
			fmt.Fprintf(&page, "<link rel=stylesheet href=\"%03d.css\"><style>%s</style><p style='%s'>%s</p>\n",
				i, in, strings.ReplaceAll(in, "'", ""), a.Name)
		}
		add(fmt.Sprintf("css/%03d.html", first), fmt.Sprintf("stylesheet attacks %d–%d", first, min(first+perPage, len(filtertest.CSS))-1), page.String())
	}
	// Attacks on the proxy rather than the filter: its own pages as resources and form
	// targets, hints that open connections without a request, files that are not what they
	// claim.
	extra := map[string]string{
		"proxy-form":    `<form action="/insert" method=post enctype="multipart/form-data"><input name=token value=x><input type=file name=file><button>go</button></form><form action="/bookmarks" method=post><input name=uri value="USK@x"></form>`,
		"proxy-pages":   `<img src="/status"><img src="/transfers"><link rel=stylesheet href="/static/style.css"><img src="/external?url=http://` + target + `/">`,
		"connect-hints": `<link rel=preconnect href="http://` + target + `/"><link rel=prefetch href="http://` + target + `/p"><link rel=prerender href="http://` + target + `/r"><link rel=modulepreload href="http://` + target + `/m.js"><link rel=preload as=script href="//` + target + `/s.js">`,
		"fake-files":    `<img src="fake.png"><img src="evil.svg"><object data="evil.svg"></object><embed src="evil.svg"><iframe src="evil.svg"></iframe><video src="film.webm" autoplay></video><img src="html-as-text.txt">`,
		"external-link": `<a href="http://` + target + `/">out</a> <a href="/external?url=http://` + target + `/">through the warning page</a>`,
		"refresh":       `<meta http-equiv="refresh" content="0; url=http://` + target + `/"><meta http-equiv=refresh content="0;URL='javascript:alert(1)'">`,
	}
	for _, name := range []string{"proxy-form", "proxy-pages", "connect-hints", "fake-files", "external-link", "refresh"} {
		add("proxy/"+name+".html", name, "<!DOCTYPE html><p>"+name+"</p>"+extra[name])
	}
	site.Files["fake.png"] = []byte("<html><script>alert(1)</script><img src=http://" + target + "/></html>")
	site.Files["evil.svg"] = []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script><image href="http://` + target + `/i.png"/></svg>`)
	site.Files["film.webm"] = []byte("not a film <script>alert(1)</script>")
	site.Files["html-as-text.txt"] = []byte("<script>alert(1)</script><img src=http://" + target + "/>")
	site.Others = []string{"/fake.png", "/evil.svg", "/html-as-text.txt"}
	index.WriteString("</ul>")
	site.Files["index.html"] = []byte(index.String())
	return site
}

// ImageFiles are the files that the images site of AttackSite holds: two small PNG images,
// x.png and b.png.
func ImageFiles() map[string][]byte {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic("browsertest: encode a PNG: " + err.Error())
	}
	return map[string][]byte{"x.png": b.Bytes(), "b.png": b.Bytes()}
}

// fromAttacks reports whether a data: URL is one that the attack inputs hold.
func fromAttacks(u string) bool {
	for _, a := range append(append([]filtertest.Attack(nil), filtertest.HTML...), filtertest.CSS...) {
		for rest := a.Input; ; {
			i := strings.Index(strings.ToLower(rest), "data:")
			if i < 0 {
				break
			}
			rest = rest[i:]
			end := strings.IndexAny(rest, "\"') >")
			if end < 0 {
				end = len(rest)
			}
			if strings.HasPrefix(u, rest[:end]) {
				return true
			}
			rest = rest[5:]
		}
	}
	return false
}
