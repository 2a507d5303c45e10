// Package browsertest is test support, not part of any product path: it drives a real,
// headless Chromium through the DevTools protocol and records everything the browser does —
// every request of every tab, frame and worker, every script it compiles, every console
// message and policy violation — so that a test can show that pages served through the
// browsing proxy (docs/spec.md §17, §20) make the browser reach nothing but the proxy and run
// no script.
//
// It also builds the site of attacks that such a test serves (AttackSite, from the content
// filter's attack inputs in proxy/filter/filtertest), runs canary servers that the attacks
// aim at and that must hear nothing (Canary), serves pages of other origins that try to make
// the proxy fetch keys for them (OtherSites), and takes screenshots. The proxy's own browser
// test serves the site from an in-memory block store; the whole-system test in tests/ serves
// it from a real test network.
//
// A typical test:
//
//	b := browsertest.New(t, ctx) // skips, saying why, where Chromium cannot be had
//	tabs := []*browsertest.Tab{b.NewTab(), b.NewTab()}
//	b.CheckInstruments(tabs[0])
//	target := browsertest.NewCanary(t)
//	site := browsertest.AttackSite(target.Addr(), imagesKey)
//	// … insert site.Files under a key, served by the proxy at proxyURL …
//	b.Visit(tabs, proxyURL, proxyURL+"/"+siteKey, site, target)
package browsertest
