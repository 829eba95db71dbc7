// Package layers holds no code: its test checks that nspawnctl's packages
// depend on each other in the one direction ARCHITECTURE.md draws, so that
// a shortcut (render reading the file system, a renderer decoding HCL, the
// resolved model importing the engine) fails here instead of in review.
package layers

import (
	"go/build"
	"io/fs"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/nspawnctl/nspawnctl/"

// rule forbids the non-test imports of one package: imports with one of
// the prefixes in deny (a module path, or a path in this module without the
// module prefix).
type rule struct {
	pkg  string
	deny []string
	why  string
}

// hclFree are the HCL packages only the decoding stage (machine/config),
// validation (machine/resolve, which reports diagnostics on HCL ranges) and
// the CLI may import.
var hclFree = []string{"github.com/hashicorp/hcl/", "github.com/zclconf/go-cty"}

// edges are the imports through which a stage would reach the running
// system: only the engine, doctor, nat, the nebula sidecar's runtime code
// and the CLI hold them.
var edges = []string{"os", "os/exec", "internal/host", "github.com/godbus/", "github.com/coreos/", "github.com/vishvananda/", "github.com/google/nftables"}

var rules = []rule{
	{"machine/config", []string{"machine/resolve", "machine/render", "machine/engine", "machine/state", "machine/doctor", "internal/host"},
		"the schema and decoder come first: nothing after them in the flow"},
	{"machine/resolve", append([]string{"machine/render", "machine/engine", "machine/state", "machine/doctor"}, edges...),
		"resolution is a pure function of the decoded configuration and the host facts"},
	{"machine/render", append(append([]string{"machine/config", "machine/engine", "machine/state", "machine/doctor"}, edges...), hclFree...),
		"rendering is pure and reads only the resolved model"},
	{"machine/state", append([]string{"machine/config", "machine/resolve", "machine/engine", "internal/host"}, hclFree...),
		"the state directory records what was installed, not the configuration"},
	{"machine/doctor", []string{"machine/engine", "cmd/"},
		"doctor checks the host; it changes nothing, so it needs no engine"},
	{"machine/doctor/nfteval", []string{"machine/", "nat", "networkd", "zones", "internal/", "os", "os/exec"},
		"the evaluator reads nft's JSON and knows nothing of nspawnctl or the host"},
	{"machine/nebula", append([]string{"machine/config", "machine/resolve", "machine/render", "machine/engine", "machine/state"}, hclFree...),
		"the sidecar's renderer takes the resolved nebula settings"},
	{"networkd", append([]string{"machine/", "internal/host"}, hclFree...),
		"the networkd renderers take plain values, not configuration blocks"},
	{"zones", append([]string{"machine/", "internal/host"}, hclFree...),
		"the zone and bridge renderers take plain values, not configuration blocks"},
	{"nat", append([]string{"machine/", "internal/host"}, hclFree...),
		"nat builds rules from its own model"},
	{"internal/host", []string{"machine/", "nat", "networkd", "zones", "cmd/"},
		"the host adapters know nothing of nspawnctl's model"},
}

func repoRoot(t *testing.T) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func TestPackagesDependOneWay(t *testing.T) {
	root := repoRoot(t)
	for _, r := range rules {
		p, err := build.Default.ImportDir(filepath.Join(root, r.pkg), 0)
		if err != nil {
			t.Fatalf("%s: %v", r.pkg, err)
		}
		for _, imp := range p.Imports {
			for _, d := range r.deny {
				if denied(imp, d) {
					t.Errorf("%s imports %s: %s", r.pkg, imp, r.why)
				}
			}
		}
	}
}

// denied reports whether import path imp is what deny names: a prefix of
// another module's path ("github.com/godbus/"), a package of this module
// with its sub-packages ("nat", or "machine/" for everything under it), or
// a standard library package exactly ("os").
func denied(imp, deny string) bool {
	switch {
	case strings.Contains(strings.SplitN(deny, "/", 2)[0], "."):
		return strings.HasPrefix(imp, deny)
	case strings.HasPrefix(imp, module):
		local := strings.TrimPrefix(imp, module)
		if strings.HasSuffix(deny, "/") {
			return strings.HasPrefix(local, deny)
		}
		return local == deny || strings.HasPrefix(local, deny+"/")
	default:
		return imp == deny
	}
}

// TestOnlyTheCLIUsesTheEngine keeps the engine at the top of the library:
// no package but the CLI builds on it (tests, e2e's included, may).
func TestOnlyTheCLIUsesTheEngine(t *testing.T) {
	root := repoRoot(t)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata") {
			return filepath.SkipDir
		}
		p, err := build.Default.ImportDir(path, 0)
		if err != nil {
			return nil // no Go files here (or only tests)
		}
		rel, _ := filepath.Rel(root, path)
		if rel == "cmd/nspawnctl" || rel == "machine/engine" {
			return nil
		}
		if slices.Contains(p.Imports, module+"machine/engine") {
			t.Errorf("%s imports machine/engine; only the CLI drives the engine", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
