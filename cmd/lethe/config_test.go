package main

import (
	"flag"
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	got, err := parseConfig("# comment\n\nstore-size = 10GiB\r\nopennet=true\naddress = \"example.org:41000\"\naddress = 192.0.2.1:41000\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []setting{{"store-size", "10GiB", 3}, {"opennet", "true", 4}, {"address", "example.org:41000", 5}, {"address", "192.0.2.1:41000", 6}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("setting %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"no equals sign", "= value", "--store-size = 1", `x = "unterminated`} {
		if _, err := parseConfig(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestApplyConfigCommandLineWins(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	a := fs.String("a", "", "")
	b := fs.String("b", "", "")
	fs.String("dir", "", "")
	fs.Parse([]string{"-a", "from the command line"})
	if err := applyConfig(fs, []setting{{"a", "from the file", 1}, {"b", "file", 2}}, "f", nil); err != nil {
		t.Fatal(err)
	}
	if *a != "from the command line" || *b != "file" {
		t.Errorf("a=%q b=%q", *a, *b)
	}
	if err := applyConfig(fs, []setting{{"dir", "x", 1}}, "f", map[string]bool{"dir": true}); err == nil {
		t.Error("dir was accepted from a file")
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1024": 1024, "1k": 1024, "64MiB": 64 << 20, "10 GiB": 10 << 30, "1.5G": 3 << 29, "2GB": 2e9, "512mb": 512e6} {
		got, err := parseBytes(in)
		if err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "abc", "-1G", "1X", "NaN", "1e30"} {
		if _, err := parseBytes(bad); err == nil {
			t.Errorf("parseBytes(%q) accepted", bad)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add("store-size = 10GiB\nopennet = true\n# c\n")
	f.Add("address = \"a:1\"\n\n=\n")
	f.Fuzz(func(t *testing.T, text string) {
		settings, err := parseConfig(text)
		if err != nil {
			return
		}
		for _, s := range settings {
			if s.key == "" || strings.HasPrefix(s.key, "-") || strings.ContainsAny(s.key, "\n=") {
				t.Fatalf("bad key %q from %q", s.key, text)
			}
		}
	})
}

func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"10GiB", "1.5G", "512mb", "0", "1e3k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseBytes(s)
		if err == nil && n < 0 {
			t.Fatalf("parseBytes(%q) = %d", s, n)
		}
	})
}
