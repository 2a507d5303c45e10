package index

import (
	"bytes"
	"context"
	"lethe/crypto"
	"testing"
	"unicode/utf8"
)

// FuzzNode: any bytes either fail to decode with an error or decode to a node that encodes
// back to the same bytes: exactly for a root, and for other nodes the same body once
// inflated (one encoding per body; the compressed stream may differ, spec §21.3).
func FuzzNode(f *testing.F) {
	m := newMemBlocks()
	var seeds [][]byte
	put := recordPuts{m: m, seen: &seeds}
	docs := testCorpus(f, 300, 11)
	if _, err := Publish(context.Background(), nil, put, chkTarget(), nil, corpusOf(docs), Options{TempDir: f.TempDir()}); err != nil {
		f.Fatal(err)
	}
	if _, err := Publish(context.Background(), nil, put, chkTarget(), nil, corpusOf(docs[:3]), Options{TempDir: f.TempDir()}); err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Add([]byte{Version, kindRoot, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := decodeNode(b, 0)
		if err != nil {
			return
		}
		again := encodeNode(n)
		if n.kind == kindRoot {
			if !bytes.Equal(again, b) {
				t.Fatalf("decoded and encoded again:\n%x\nwas\n%x", again, b)
			}
			return
		}
		body, err := unseal(b[2:])
		if err != nil {
			t.Fatal(err)
		}
		if bodyAgain, err := unseal(again[2:]); err != nil || !bytes.Equal(bodyAgain, body) || !bytes.Equal(again[:2], b[:2]) {
			t.Fatalf("decoded and encoded again (%v):\n%x\nwas\n%x", err, again, b)
		}
	})
}

// recordPuts keeps every node and root inserted, as fuzz seeds.
type recordPuts struct {
	m    *memBlocks
	seen *[][]byte
}

func (r recordPuts) Put(ctx context.Context, data []byte) (crypto.RequestURI, error) {
	*r.seen = append(*r.seen, bytes.Clone(data))
	return InsertPutter{P: r.m}.Put(ctx, data)
}

func (r recordPuts) Publish(ctx context.Context, target crypto.InsertURI, data []byte) (crypto.RequestURI, error) {
	*r.seen = append(*r.seen, bytes.Clone(data))
	return InsertPutter{P: r.m}.Publish(ctx, target, data)
}

// FuzzWords: normalising is idempotent, words are valid UTF-8, within MaxWord, and are
// their own only word.
func FuzzWords(f *testing.F) {
	for _, s := range []string{"Debian Install Guide", "Ｃａｆé ﬁle", "ΣΊΣΥΦΟΣ straße", "привет ёлка", "数据库と日本語", "हिन्दी", "a\u0301b\u0308", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := Normalize(s)
		if Normalize(n) != n {
			t.Fatalf("Normalize(%q) = %q, but Normalize(%q) = %q", s, n, n, Normalize(n))
		}
		for _, w := range Words(s) {
			if !utf8.ValidString(w) || len(w) > MaxWord || w == "" {
				t.Fatalf("word %q of %q", w, s)
			}
			if !validWord(w) {
				t.Fatalf("word %q of %q is not valid by validWord", w, s)
			}
		}
	})
}
