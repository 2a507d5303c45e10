package fcp

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// pySubscribeUSK is pyFreenet's SubscribeUSK: its keywords, then the job's Identifier.
func pySubscribeUSK(id, uri string) string {
	return "SubscribeUSK\nURI=" + uri + "\nDontPoll=False\nIdentifier=" + id + "\nEndMessage\n"
}

// siteEdition is a ClientPutComplexDir of one page under insert (a USK insert URI).
func siteEdition(id, insert, page string) string {
	return "ClientPutComplexDir\nIdentifier=" + id + "\nURI=" + insert + "\nPersistence=connection\nGlobal=false\n" +
		"DefaultName=index.html\nFiles.0.Name=index.html\nFiles.0.UploadFrom=direct\n" +
		"Files.0.DataLength=" + strconv.Itoa(len(page)) + "\nFiles.0.Metadata.ContentType=text/html\n" +
		"DataLength=" + strconv.Itoa(len(page)) + "\nData\n" + page
}

// TestConformanceSubscribeUSK: a subscription to a site's edition 0 is confirmed, then told
// of edition 0 and of edition 1 as each is inserted, and ends with UnsubscribeUSK.
func TestConformanceSubscribeUSK(t *testing.T) {
	_, addr := startServer(t, Config{USKPollInterval: 20 * time.Millisecond})
	c := dialRaw(t, addr)
	c.hello()
	c.send(pyGenerateSSK)
	kp := c.expect("SSKKeypair", "InsertURI", "RequestURI")
	insert := "USK@" + strings.TrimPrefix(kp.fields["InsertURI"], "SSK@") + "blog/"
	request := "USK@" + strings.TrimPrefix(kp.fields["RequestURI"], "SSK@") + "blog/"

	c.send(pySubscribeUSK("sub1", request+"0"))
	sub := c.expect("SubscribedUSK", "Identifier", "URI", "DontPoll")
	wantField(t, sub, "URI", request+"0")

	// nextUpdate reads past the rounds and the insert's own messages to the next update.
	nextUpdate := func() rawMsg {
		t.Helper()
		for {
			m := c.read()
			if m.name == "SubscribedUSKUpdate" {
				return m
			}
			if m.name != "SubscribedUSKRoundFinished" && !informational[m.name] && m.name != "PutSuccessful" {
				t.Fatalf("unexpected %s", m)
			}
		}
	}
	for edition := range 2 {
		c.send(siteEdition("put"+strconv.Itoa(edition), insert+strconv.Itoa(edition), "<p>edition "+strconv.Itoa(edition)+"</p>"))
		u := nextUpdate()
		wantField(t, u, "Identifier", "sub1")
		wantField(t, u, "Edition", strconv.Itoa(edition))
		wantField(t, u, "URI", request+strconv.Itoa(edition))
	}

	c.send(pySubscribeUSK("sub1", request+"0"))
	for m := c.read(); m.name != "IdentifierCollision"; m = c.read() {
	}
	c.send("UnsubscribeUSK\nIdentifier=sub1\nEndMessage\n")
	c.send("UnsubscribeUSK\nIdentifier=sub1\nEndMessage\n") // gone: no such identifier
	for m := c.read(); ; m = c.read() {
		if m.name == "ProtocolError" {
			wantField(t, m, "Code", "15")
			break
		}
	}
	c.send(pySubscribeUSK("sub2", strings.TrimSuffix(kp.fields["RequestURI"], "/")+"/doc"))
	for m := c.read(); ; m = c.read() {
		if m.name == "ProtocolError" {
			wantField(t, m, "Code", "8") // an SSK is not a USK
			wantField(t, m, "Identifier", "sub2")
			break
		}
	}
}
