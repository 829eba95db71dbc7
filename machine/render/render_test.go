package render_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/nspawnctl/nspawnctl/internal/golden"
	"github.com/nspawnctl/nspawnctl/machine/config"
	"github.com/nspawnctl/nspawnctl/machine/render"
	"github.com/nspawnctl/nspawnctl/machine/resolve"
	"github.com/nspawnctl/nspawnctl/networkd"
)

// The golden render tests render every file in ../examples on its own and
// compare each artefact with testdata/render/EXAMPLE/PATH, where PATH is the
// artefact's path on a host. The list of artefacts (with kind, mode and
// owner) is testdata/render/EXAMPLE/_paths.txt, so that an artefact that
// appears or disappears shows up in review even when no content changed.

const (
	examplesDir = "../../examples"
	renderDir   = "testdata/render"
	pathsFile   = "_paths.txt"
	// testMachineID is the fixed host machine id of every golden file: the
	// ULA /48 and the containers' MACs are derived from it.
	testMachineID = "0123456789abcdef0123456789abcdef"
)

// example is one configuration file under examples/.
type example struct {
	path string // relative to this package
	name string // file name without .hcl or .hcl.json
	json bool   // written in HCL's JSON syntax
}

func examples(t *testing.T) []example {
	t.Helper()
	entries, err := os.ReadDir(examplesDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []example
	for _, e := range entries {
		n := e.Name()
		switch {
		case e.IsDir():
		case strings.HasSuffix(n, ".hcl.json"):
			out = append(out, example{filepath.Join(examplesDir, n), strings.TrimSuffix(n, ".hcl.json"), true})
		case strings.HasSuffix(n, ".hcl"):
			out = append(out, example{filepath.Join(examplesDir, n), strings.TrimSuffix(n, ".hcl"), false})
		}
	}
	if len(out) == 0 {
		t.Fatalf("no examples in %s", examplesDir)
	}
	return out
}

func testHostFacts(t *testing.T) resolve.HostFacts {
	t.Helper()
	id, err := networkd.ParseMachineID(testMachineID)
	if err != nil {
		t.Fatal(err)
	}
	return resolve.HostFacts{MachineID: id}
}

// renderExample loads, validates and renders one example with the options
// `nspawnctl render` uses by default.
func renderExample(t *testing.T, ex example) []render.Artifact {
	t.Helper()
	p := config.NewParser()
	cfg, diags := p.Load([]string{ex.path})
	facts := testHostFacts(t)
	var r *resolve.Resolved
	if !diags.HasErrors() {
		var vd hcl.Diagnostics
		r, vd = resolve.Validate(cfg, facts)
		diags = append(diags, vd...)
	}
	if diags.HasErrors() {
		t.Fatalf("%s does not validate:\n%s", ex.path, diagText(p, diags))
	}
	arts, err := render.Render(r, render.RenderOptions{MachineID: facts.MachineID, StaticLeases: true})
	if err != nil {
		t.Fatalf("render %s: %v", ex.path, err)
	}
	return arts
}

func diagText(p *config.Parser, diags hcl.Diagnostics) string {
	var b bytes.Buffer
	w := hcl.NewDiagnosticTextWriter(&b, p.Files(), 100, false)
	_ = w.WriteDiagnostics(diags)
	return b.String()
}

// pathsListing is the _paths.txt golden: one line per artefact.
func pathsListing(arts []render.Artifact) []byte {
	var b bytes.Buffer
	for _, a := range arts {
		where := "host"
		if a.InRoot {
			where = "root"
		}
		if a.Symlink != "" {
			fmt.Fprintf(&b, "link %s %s %s -> %s\n", where, a.Owner, a.Path, a.Symlink)
			continue
		}
		fmt.Fprintf(&b, "%04o %s %s %s\n", a.Mode, where, a.Owner, a.Path)
	}
	return b.Bytes()
}

func TestRenderExamples(t *testing.T) {
	for _, ex := range examples(t) {
		if ex.json {
			continue // checked against its HCL twin by TestJSONExamplesMatchHCL
		}
		t.Run(ex.name, func(t *testing.T) {
			arts := renderExample(t, ex)
			dir := filepath.Join(renderDir, ex.name)
			golden.Check(t, filepath.Join(dir, pathsFile), pathsListing(arts))
			want := map[string]bool{pathsFile: true}
			for _, a := range arts {
				if a.Symlink != "" {
					continue // listed in _paths.txt with its target
				}
				rel := goldenName(a.Path)
				want[rel] = true
				golden.Check(t, filepath.Join(dir, filepath.FromSlash(rel)), a.Content)
			}
			checkNoStaleGoldens(t, dir, want)
		})
	}
}

// goldenName is the golden file of an artefact path, relative to the
// example's directory: the path without its leading slash, with every byte
// that a Go module file path may not contain (such as the '*' of a
// 20-mv-*.network) written as %XX, so that the module stays zippable.
func goldenName(p string) string {
	var b strings.Builder
	for _, c := range []byte(strings.TrimPrefix(p, "/")) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("/._-@+=,~", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// checkNoStaleGoldens fails on golden files of artefacts that are no longer
// rendered; with -update it removes them.
func checkNoStaleGoldens(t *testing.T, dir string, want map[string]bool) {
	t.Helper()
	var stale []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if !want[filepath.ToSlash(rel)] {
			stale = append(stale, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(stale)
	for _, p := range stale {
		if *golden.Update {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("stale golden file %s: no artefact has this path (run go test with -update to remove it)", p)
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	for _, ex := range examples(t) {
		name := ex.name
		if ex.json {
			name += ".json" // distinct from its HCL twin's subtest
		}
		t.Run(name, func(t *testing.T) {
			first := renderExample(t, ex)
			second := renderExample(t, ex)
			if a, b := pathsListing(first), pathsListing(second); !bytes.Equal(a, b) {
				t.Fatalf("artefact lists differ between two renders:\n%s", golden.Diff(string(a), string(b)))
			}
			for i := range first {
				if !bytes.Equal(first[i].Content, second[i].Content) {
					t.Errorf("%s differs between two renders:\n%s", first[i].Path, golden.Diff(string(first[i].Content), string(second[i].Content)))
				}
			}
		})
	}
}

func TestJSONExamplesMatchHCL(t *testing.T) {
	n := 0
	for _, ex := range examples(t) {
		if !ex.json {
			continue
		}
		n++
		t.Run(ex.name, func(t *testing.T) {
			twin := example{path: filepath.Join(examplesDir, ex.name+".hcl"), name: ex.name}
			if _, err := os.Stat(twin.path); err != nil {
				t.Fatalf("%s has no HCL twin: %v", ex.path, err)
			}
			fromJSON := renderExample(t, ex)
			fromHCL := renderExample(t, twin)
			if a, b := pathsListing(fromHCL), pathsListing(fromJSON); !bytes.Equal(a, b) {
				t.Fatalf("artefact lists of %s and %s differ:\n%s", twin.path, ex.path, golden.Diff(string(a), string(b)))
			}
			for i := range fromHCL {
				if !bytes.Equal(fromHCL[i].Content, fromJSON[i].Content) {
					t.Errorf("%s differs between %s and %s:\n%s", fromHCL[i].Path, twin.path, ex.path, golden.Diff(string(fromHCL[i].Content), string(fromJSON[i].Content)))
				}
			}
		})
	}
	if n == 0 {
		t.Fatal("no *.hcl.json example: the JSON syntax the NixOS module emits is untested")
	}
}
