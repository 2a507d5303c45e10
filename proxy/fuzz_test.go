package proxy

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"mime/multipart"
	"strings"
	"testing"

	"lethe/crypto"
	"lethe/insert"
	"lethe/metadata"
)

// The proxy's parsers of what browsers and uploads send each have a fuzz target: the Range
// header, request paths, pasted URIs, the insert form and zip archives; and tail, which cuts
// metadata from the network.

func FuzzRange(f *testing.F) {
	for _, h := range []string{"bytes=0-0", "bytes=-10", "bytes=5-", "bytes=0-1,5-6", "bytes=5-1", "items=0-1",
		"bytes=99999999999999999999-", "bytes= 1-2", "bytes=-0", "bytes=-", "bytes=1-2-3"} {
		f.Add(h, int64(1000))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -size
		}
		if size < 0 {
			return
		}
		r, err := parseRange(h, size)
		switch {
		case err != nil && !errors.Is(err, errUnsatisfiable):
			t.Fatalf("parseRange(%q, %d): %v", h, size, err)
		case err != nil && r != nil:
			t.Fatalf("parseRange(%q, %d): a range and an error", h, size)
		case r != nil && (r.start < 0 || r.length < 1 || r.start > size-r.length):
			t.Fatalf("parseRange(%q, %d) = %+v, outside the content", h, size, *r)
		}
	})
}

func FuzzKeyPath(f *testing.F) {
	key := requestURI(f, newUSK(f, "site", 1))
	for _, s := range []string{"/" + key.String(), "/" + key.WithPath("/a b/c.html").String(), "/lethe:" + key.String(),
		"/freenet:CHK@x", "/CHK@", "/", "/settings", "/KSK@some words/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		u, err := parseKeyPath(p)
		if err != nil {
			return
		}
		if !isKeyPath(p) {
			t.Fatalf("%q parses as a key but is not taken for a key path", p)
		}
		again, err := parseKeyPath("/" + u.String())
		if err != nil || again != u {
			t.Fatalf("%q: the canonical path %q reads back as %v, %v", p, u.String(), again, err)
		}
	})
}

func FuzzUserURI(f *testing.F) {
	key := requestURI(f, newUSK(f, "site", 1))
	for _, s := range []string{key.String(), " lethe:" + key.String() + "\n", "http://127.0.0.1:8888/" + key.String(),
		"freenet:KSK@x", "http://[::1", "://", "USK@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := parseUserURI(s)
		if err != nil {
			return
		}
		if again, err := crypto.ParseURI(u.String()); err != nil || again != u {
			t.Fatalf("%q: %v does not read back: %v", s, u, err)
		}
	})
}

func FuzzZipDir(f *testing.F) {
	f.Add(zipArchive(f, map[string]string{"site/index.html": "<p>x</p>", "site/a/b.txt": "b"}))
	f.Add(zipArchive(f, map[string]string{"../x": "x"}))
	f.Add(zipArchive(f, map[string]string{"a": "1", "__MACOSX/a": "2", "dir/": ""}))
	f.Add([]byte("PK\x03\x04"))
	f.Fuzz(func(t *testing.T, b []byte) {
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		dir, err := zipDir(zr, 1<<20)
		if err != nil {
			return
		}
		for _, e := range dir.Entries {
			for c := range strings.SplitSeq(e.Path, "/") {
				if err := metadata.CheckName(c); err != nil {
					t.Fatalf("zip entry %q has a bad component: %v", e.Path, err)
				}
			}
		}
		// Reading the entries never yields more than the bound.
		_, err = insert.Directory(context.Background(), insert.Discard, crypto.InsertURI{Type: crypto.CHK}, dir,
			insert.Config{Compression: insert.CompressNever})
		_ = err
	})
}

func FuzzInsertFields(f *testing.F) {
	const boundary = "lethe-fuzz"
	form := func(parts []formPart) []byte {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		mw.SetBoundary(boundary)
		for _, p := range parts {
			if p.file != "" {
				w, _ := mw.CreateFormFile(p.field, p.file)
				w.Write(p.data)
			} else {
				mw.WriteField(p.field, p.value)
			}
		}
		mw.Close()
		return b.Bytes()
	}
	f.Add(form([]formPart{{field: "what", value: "file"}, {field: "target", value: "chk"}, {field: "file", file: "a", data: []byte("a")}}))
	f.Add(form([]formPart{{field: "what", value: "site"}, {field: "target", value: "new"}, {field: "site", value: "s"}}))
	f.Add(form([]formPart{{field: "target", value: "uri"}, {field: "insert-uri", value: "SSK@x"}}))
	f.Add([]byte("--lethe-fuzz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n--lethe-fuzz--\r\n"))
	s := &Server{cfg: Config{MaxSize: 1 << 20}}
	f.Fuzz(func(t *testing.T, body []byte) {
		fields, part, err := readFields(multipart.NewReader(bytes.NewReader(body), boundary))
		if err != nil {
			if !errors.Is(err, errUpload) {
				t.Fatalf("readFields: %v does not wrap errUpload", err)
			}
			return
		}
		if len(fields) > maxFields {
			t.Fatalf("%d fields", len(fields))
		}
		for k, v := range fields {
			if len(v) > maxFieldLen {
				t.Fatalf("field %q of %d bytes", k, len(v))
			}
		}
		if part != nil {
			part.Close()
		}
		if fields["target"] != "new" { // a new site makes a key pair: slow, and not a parser
			s.insertTarget(fields)
		}
	})
}

func FuzzTail(f *testing.F) {
	// Small documents: the fuzzer minimises every new input it finds, and a document of
	// hundreds of keys takes it a minute each.
	for _, derived := range []bool{true, false} {
		enc, err := splitfileDoc(derived, 3, 2, 2).Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc, int64(100_000))
		f.Add(enc, int64(0))
		f.Add(enc, int64(7*metadata.BlockSize-1001))
	}
	f.Fuzz(func(t *testing.T, b []byte, offset int64) {
		d, err := metadata.Decode(b)
		if err != nil || offset < 0 || offset >= d.Size {
			return
		}
		cut, skip := tail(d, offset)
		if skip < 0 || skip > offset || cut.Size != d.Size-(offset-skip) {
			t.Fatalf("tail(%d): size %d of %d, skip %d", offset, cut.Size, d.Size, skip)
		}
		if cut == d {
			return
		}
		// The kept segments, with their keys, are the last ones of the original.
		kept := len(cut.Split.Segments)
		orig := d.Split.Segments[len(d.Split.Segments)-kept:]
		for i := range kept {
			for b := range orig[i].Blocks() {
				if cut.Split.Key(i, b) != d.Split.Key(len(d.Split.Segments)-kept+i, b) {
					t.Fatalf("segment %d block %d: the key changed", i, b)
				}
			}
		}
		if skip >= int64(cut.Split.Segments[0].DataBlocks)*metadata.BlockSize {
			t.Fatalf("skip %d is beyond the first kept segment", skip)
		}
	})
}

// splitfileDoc is the document of an uncompressed splitfile whose segments have the given
// numbers of data blocks (and as many check blocks), with made-up keys.
func splitfileDoc(derived bool, segments ...int) *metadata.Document {
	sf := &metadata.Splitfile{Derived: derived}
	if derived {
		sf.Secret[0] = 1
	}
	for i, k := range segments {
		seg := metadata.Segment{DataBlocks: k, CheckBlocks: k}
		for b := range 2 * k {
			var rk crypto.RoutingKey
			rk[0], rk[1], rk[2] = byte(i), byte(b), byte(b>>8)
			seg.Routing = append(seg.Routing, rk)
			if !derived {
				seg.Crypto = append(seg.Crypto, [crypto.KeySize]byte(rk))
			}
		}
		sf.Segments = append(sf.Segments, seg)
		sf.Length += int64(k) * metadata.BlockSize
	}
	sf.Length -= 1000 // the last block is short
	return &metadata.Document{Kind: metadata.KindSplitfile, MIMEType: "video/mp4", Size: sf.Length, Split: sf}
}
