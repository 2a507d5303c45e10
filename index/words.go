package index

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Limits of words (spec §21.2).
const (
	// MaxWord is the longest word kept, in bytes after normalising: longer runs are hashes,
	// encoded data or markup, not words anyone types.
	MaxWord = 64
)

// folder folds case the Unicode way (ß → ss, Σ/ς → σ), not by a locale's rules: a Turkish
// dotless ı and dotted I fold as everywhere else, which keeps one index usable for every
// language.
var folder = cases.Fold()

// Normalize returns the form in which text is indexed and searched (spec §21.2): NFKC (so
// full-width letters, ligatures and compatibility forms become their plain letters), case
// folded, and Latin, Greek and Cyrillic letters stripped of their accents (é → e, ё → е).
// Only the combining marks of U+0300–U+036F are removed: the vowel signs of Indic scripts,
// Hebrew points and Arabic harakat are also combining marks, but they change the word, not
// only its accent, so they stay.
func Normalize(s string) string {
	if ascii(s) {
		return asciiLower(s) // what the steps below make of ASCII, quicker
	}
	s = norm.NFKC.String(s)
	s = folder.String(s)
	d := norm.NFD.String(s)
	var b strings.Builder
	b.Grow(len(d))
	for _, r := range d {
		if r >= 0x300 && r <= 0x36F {
			continue
		}
		b.WriteRune(r)
	}
	return norm.NFC.String(b.String())
}

// Words splits text into the words an index holds, in order, repeats included (spec §21.2):
// the text is normalised, then a word is a run of letters, digits and combining marks; each
// Han, Hiragana or Katakana character is a word of its own, since those scripts do not put
// spaces between words. Words longer than MaxWord bytes are dropped.
func Words(text string) []string {
	var out []string
	eachWord(Normalize(text), func(w string) { out = append(out, w) })
	return out
}

// eachWord calls f for every word of normalised text.
func eachWord(s string, f func(string)) {
	start := -1
	flush := func(end int) {
		if start >= 0 && end-start <= MaxWord {
			f(s[start:end])
		}
		start = -1
	}
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			flush(i)
		case isIdeograph(r):
			flush(i)
			f(s[i : i+utf8.RuneLen(r)])
		case unicode.IsLetter(r) || unicode.IsDigit(r) || (start >= 0 && unicode.In(r, unicode.Mn, unicode.Mc)):
			if start < 0 {
				start = i
			}
		default:
			flush(i)
		}
	}
	flush(len(s))
}

func isIdeograph(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana)
}

// validWord reports whether s could be a word of an index: what Words makes of it is s
// itself. Decoders check every stored word with it, so that an index cannot hold a word no
// query can ask for.
func validWord(s string) bool {
	if s == "" || len(s) > MaxWord || !utf8.ValidString(s) {
		return false
	}
	n := 0
	ok := true
	eachWord(s, func(w string) {
		n++
		ok = ok && w == s
	})
	return n == 1 && ok && Normalize(s) == s
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
