package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
)

// maxConfigFile bounds a config file.
const maxConfigFile = 64 << 10

// setting is one line of a config file.
type setting struct {
	key, value string
	line       int
}

// parseConfig reads a config file (spec §19.7): one `name = value` a line, names being the
// long flags of `lethe node` without their dashes, `#` starting a comment line, blank lines
// ignored. A flag that may repeat may appear on several lines.
func parseConfig(text string) ([]setting, error) {
	if len(text) > maxConfigFile {
		return nil, fmt.Errorf("config file is %d bytes, at most %d", len(text), maxConfigFile)
	}
	var out []setting
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !ok || key == "" {
			return nil, fmt.Errorf("line %d: %q is not `name = value`", i+1, truncate(line, 40))
		}
		if strings.HasPrefix(key, "-") {
			return nil, fmt.Errorf("line %d: write the name without dashes (%q)", i+1, strings.TrimLeft(key, "-"))
		}
		if strings.HasPrefix(value, `"`) {
			unq, err := strconv.Unquote(value)
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", i+1, err)
			}
			value = unq
		}
		out = append(out, setting{key: key, value: value, line: i + 1})
	}
	return out, nil
}

// applyConfig sets the flags a config file names, except those given on the command line
// (which win). Names that are not flags, and flags that may not be set from a file, are
// errors.
func applyConfig(fs *flag.FlagSet, settings []setting, path string, notInFile map[string]bool) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, s := range settings {
		f := fs.Lookup(s.key)
		if f == nil || notInFile[s.key] {
			return fmt.Errorf("%s line %d: %q is not a setting of lethe node", path, s.line, s.key)
		}
		if given[s.key] {
			continue
		}
		if err := fs.Set(s.key, s.value); err != nil {
			return fmt.Errorf("%s line %d: %s: %v", path, s.line, s.key, err)
		}
	}
	return nil
}

// byteSize is a flag holding a size: 1073741824, 1GiB, 512MiB, 10GB, 64k.
type byteSize int64

func (b *byteSize) String() string { return formatBytes(int64(*b)) }

func (b *byteSize) Set(s string) error {
	n, err := parseBytes(s)
	if err != nil {
		return err
	}
	*b = byteSize(n)
	return nil
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
	{"b", 1},
}

// parseBytes reads a size with an optional unit (k, M, G, T, KiB…, KB…; case ignored).
func parseBytes(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f != f {
		return 0, fmt.Errorf("%q is not a size (like 10GiB, 512MiB or 1073741824)", s)
	}
	v := f * float64(mult)
	if v >= 1<<62 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(v), nil
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<30:
		return fmt.Sprintf("%.1fGiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fKiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}
