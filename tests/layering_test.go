// Package tests holds Lethe's whole-system tests: the layering rules of docs/design.md §2 and, as
// the node grows, tests across real nodes on loopback.
package tests

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// layers is docs/design.md §2: a package may import only packages of a strictly lower layer. A
// package of Lethe that is not listed here fails the test, so that each new package is placed
// on purpose.
var layers = map[string]int{
	"crypto":    0,
	"cputime":   0,
	"private":   0,
	"wire":      1,
	"datastore": 1,
	"metadata":  1,
	"session":   1,
	"transport": 2,
	"portmap":   2,
	"insert":    2,
	"fetch":     2,
	"routing":   3,
	"filetest":  3,
	"index":     3,
	"proxy":     4,
	// Test support for the proxy's browser tests and those here: part of proxy's unit.
	"proxy/browsertest": 4,
	"fcp":               4,
	"node":              5,
	"crawl":             5,
	"cmd/lethe":         6,
	"tests":             6,
}

// testSupport are packages made for tests: only test files, and other test support, may
// import them, so that no product path leans on a test double or a browser driver.
var testSupport = map[string]bool{
	"datastore/disktest":      true,
	"proxy/browsertest":       true,
	"proxy/filter/filtertest": true,
	// The network lab (layer 6 with tests): namespaces, NAT routers, the internet program.
	"tests/lab":            true,
	"tests/lab/netns":      true,
	"tests/lab/cmd/labnet": true,
}

// owners lists the external modules only one package may import (docs/design.md §2: each
// outside module has one importing package). A module not listed may be imported by anyone who
// needs it.
var owners = map[string][]string{
	"golang.org/x/crypto":              {"crypto"},
	"github.com/cloudflare/circl":      {"crypto"},
	"filippo.io/age":                   {"crypto"},
	"go.etcd.io/bbolt":                 {"datastore"},
	"github.com/klauspost/reedsolomon": {"insert", "fetch", "metadata"},
	"github.com/klauspost/compress":    {"metadata"},
	"golang.org/x/net/html":            {"proxy"},
	"golang.org/x/net/ipv4":            {"transport"},
	"golang.org/x/time":                {"transport"},
	"golang.org/x/sys":                 {"tests/lab/netns"},
	"github.com/quic-go/quic-go":       {"transport"},
	"github.com/huin/goupnp":           {"portmap"},
	"github.com/jackpal/go-nat-pmp":    {"portmap"},
	"golang.org/x/text":                {"index"},
}

func TestLayering(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	imports := map[string]map[string]bool{} // package dir → imported paths
	product := map[string]map[string]bool{} // package dir → paths imported by non-test files
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "docs") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		if imports[rel] == nil {
			imports[rel] = map[string]bool{}
		}
		if product[rel] == nil {
			product[rel] = map[string]bool{}
		}
		for _, imp := range f.Imports {
			ip := strings.Trim(imp.Path.Value, `"`)
			imports[rel][ip] = true
			if !strings.HasSuffix(path, "_test.go") {
				product[rel][ip] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(imports) == 0 {
		t.Fatal("found no Go packages")
	}
	for pkg, imps := range product {
		if testSupport[pkg] {
			continue
		}
		for imp := range imps {
			if dep, ok := strings.CutPrefix(imp, "lethe/"); ok && testSupport[dep] {
				t.Errorf("%s imports %s outside its tests: test support is for tests only", pkg, imp)
			}
		}
	}
	for pkg, imps := range imports {
		layer, ok := layerOf(pkg)
		if !ok {
			t.Errorf("package %s has no layer: add it to the table in tests/layering_test.go and docs/design.md §2", pkg)
			continue
		}
		for imp := range imps {
			if dep, ok := strings.CutPrefix(imp, "lethe/"); ok {
				depLayer, known := layerOf(dep)
				if known && depLayer >= layer && !sameUnit(pkg, dep) {
					t.Errorf("%s (layer %d) imports %s (layer %d): a package imports only lower layers", pkg, layer, dep, depLayer)
				}
				continue
			}
			for mod, allowed := range owners {
				if (imp == mod || strings.HasPrefix(imp, mod+"/")) && !owned(pkg, allowed) {
					t.Errorf("%s imports %s, which only %v may import", pkg, imp, allowed)
				}
			}
		}
	}
}

// layerOf finds the layer of a package directory; subpackages share their parent's layer.
func layerOf(pkg string) (int, bool) {
	for p := pkg; p != "."; p = filepath.ToSlash(filepath.Dir(p)) {
		if l, ok := layers[p]; ok {
			return l, true
		}
	}
	return 0, false
}

// sameUnit reports whether two packages belong to the same entry of the layers table: a
// package and its subpackages (proxy and proxy/filter) form one unit and may import each
// other; Go itself forbids cycles.
func sameUnit(a, b string) bool {
	return unitOf(a) == unitOf(b)
}

// A listed subpackage on its parent's layer (proxy/browsertest) is of its parent's unit.
func unitOf(pkg string) string {
	unit, layer := pkg, -1
	for p := pkg; p != "."; p = filepath.ToSlash(filepath.Dir(p)) {
		if l, ok := layers[p]; ok && (layer < 0 || l == layer) {
			unit, layer = p, l
		}
	}
	return unit
}

func owned(pkg string, allowed []string) bool {
	for _, a := range allowed {
		if pkg == a || strings.HasPrefix(pkg, a+"/") {
			return true
		}
	}
	return false
}
