package nixosmodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/nspawnctl/nspawnctl/internal/golden"
	"github.com/nspawnctl/nspawnctl/machine/config"
	"github.com/nspawnctl/nspawnctl/machine/nebula"
	"github.com/nspawnctl/nspawnctl/machine/render"
	"github.com/nspawnctl/nspawnctl/machine/resolve"
	"github.com/nspawnctl/nspawnctl/networkd"
)

// The tests in this file need Debian's nix-bin (nix-instantiate); most need
// no nixpkgs, because translate.nix uses builtins only (module-options.nix
// uses the vendored nixpkgs lib, as module_test.go does). Without
// nix-instantiate they skip with a message saying so.
//
//   tests/NAME.nix         an option set of services.nspawnctl (what a user writes)
//   tests/NAME.hcl         its HCL twin; when absent, ../examples/NAME.hcl is the twin
//   testdata/NAME.hcl.json golden: translate.nix's output, as the module writes it
//   tests/invalid/NAME.nix option sets translate.nix must refuse; line 1 is
//                          "# error: TEXT", TEXT being part of the expected message
//   tests/module-options.nix evaluates module.nix's options with nixpkgs' lib,
//                          so module.nix and translate.nix cannot drift

const (
	testsDir    = "tests"
	invalidDir  = "tests/invalid"
	goldenDir   = "testdata"
	examplesDir = "../examples"
	// testMachineID is the host machine id of the repository's render goldens.
	testMachineID = "0123456789abcdef0123456789abcdef"
)

// nixInstantiate returns the path of nix-instantiate and an environment
// that keeps Nix's state in a temporary directory, or skips the test.
func nixInstantiate(t *testing.T) (string, []string) {
	t.Helper()
	bin, err := exec.LookPath("nix-instantiate")
	if err != nil {
		t.Skip("nix-instantiate is not installed (apt-get install nix-bin); the NixOS module's translation is not tested")
	}
	state := t.TempDir()
	env := append(os.Environ(),
		"NIX_STATE_DIR="+filepath.Join(state, "state"),
		"NIX_LOG_DIR="+filepath.Join(state, "log"),
		"NIX_CONF_DIR="+filepath.Join(state, "conf"),
		"HOME="+state,
		// No channels or <nixpkgs>: the tests must not depend on them.
		"NIX_PATH=",
	)
	return bin, env
}

// runNix runs nix-instantiate and returns its standard output; on failure
// the error carries standard error.
func runNix(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	bin, env := nixInstantiate(t)
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("nix-instantiate %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// nixString quotes s as a Nix path-or-string literal for -E expressions.
func nixString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "${", `\${`).Replace(s) + `"`
}

// translate evaluates translate.nix on the option set in file and returns
// the document, indented as the golden file keeps it.
func translate(t *testing.T, file string) ([]byte, error) {
	t.Helper()
	expr := fmt.Sprintf("import (/. + %s) (import (/. + %s))", nixString(abs(t, "translate.nix")), nixString(abs(t, file)))
	out, err := runNix(t, "--eval", "--strict", "--json", "-E", expr)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := json.Indent(&b, bytes.TrimSpace(out), "", "  "); err != nil {
		return nil, fmt.Errorf("nix-instantiate printed no JSON: %v\n%s", err, out)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// TestParseEveryNixFile runs nix-instantiate --parse on every .nix file of
// the repository (flake.nix, this module, and any other).
func TestParseEveryNixFile(t *testing.T) {
	nixInstantiate(t)
	var files []string
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != ".." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "vendor" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".nix") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"../flake.nix", "module.nix", "translate.nix", "package.nix"} {
		found := false
		for _, f := range files {
			found = found || abs(t, f) == abs(t, want)
		}
		if !found {
			t.Errorf("%s is missing", want)
		}
	}
	for _, f := range files {
		t.Run(strings.TrimPrefix(filepath.ToSlash(f), "../"), func(t *testing.T) {
			if _, err := runNix(t, "--parse", f); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// optionSet is one tests/NAME.nix with its HCL twin.
type optionSet struct {
	name string
	nix  string
	hcl  string
}

func optionSets(t *testing.T) []optionSet {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(testsDir, "*.nix"))
	if err != nil {
		t.Fatal(err)
	}
	var out []optionSet
	fromExamples := 0
	for _, m := range matches {
		name := strings.TrimSuffix(filepath.Base(m), ".nix")
		if name == "module-options" {
			continue // not an option set; see TestModuleOptionsMatchTranslation
		}
		s := optionSet{name: name, nix: m, hcl: filepath.Join(testsDir, name+".hcl")}
		if _, err := os.Stat(s.hcl); err != nil {
			s.hcl = filepath.Join(examplesDir, name+".hcl")
			fromExamples++
		}
		if _, err := os.Stat(s.hcl); err != nil {
			t.Errorf("%s has no HCL twin: write %s or name it after a file in %s", m, filepath.Join(testsDir, name+".hcl"), examplesDir)
			continue
		}
		out = append(out, s)
	}
	if fromExamples == 0 {
		t.Errorf("no option set in %s is paired with a file in %s", testsDir, examplesDir)
	}
	return out
}

func hostFacts(t *testing.T) resolve.HostFacts {
	t.Helper()
	id, err := networkd.ParseMachineID(testMachineID)
	if err != nil {
		t.Fatal(err)
	}
	return resolve.HostFacts{MachineID: id}
}

// loadSource parses one configuration file's contents and validates it, as
// `nspawnctl validate` does, failing the test with nspawnctl's diagnostics.
func loadSource(t *testing.T, name string, src []byte) (*config.Config, *resolve.Resolved) {
	t.Helper()
	p := config.NewParser()
	f, diags := p.ParseSource(name, src)
	cfg := &config.Config{Files: []string{name}}
	var r *resolve.Resolved
	if !diags.HasErrors() {
		cfg.Defaults = f.Defaults
		for i := range f.Machines {
			cfg.Machines = append(cfg.Machines, &f.Machines[i])
		}
		for i := range f.Zones {
			cfg.Zones = append(cfg.Zones, &f.Zones[i])
		}
		for i := range f.Bridges {
			cfg.Bridges = append(cfg.Bridges, &f.Bridges[i])
		}
		var vd hcl.Diagnostics
		r, vd = resolve.Validate(cfg, hostFacts(t))
		diags = append(diags, vd...)
	}
	if diags.HasErrors() {
		var b bytes.Buffer
		w := hcl.NewDiagnosticTextWriter(&b, p.Files(), 100, false)
		_ = w.WriteDiagnostics(diags)
		t.Fatalf("%s is not a valid nspawnctl configuration:\n%s", name, b.String())
	}
	return cfg, r
}

// renderSource parses one configuration file's contents, validates it and renders
// it, as `nspawnctl render` does: the host's files, and each nebula sidecar's
// config.yml (with placeholder PEM: apply embeds the real CA, certificate and
// key) and the .network file it puts into the root, which `render` leaves to
// apply.
func renderSource(t *testing.T, name string, src []byte) []render.Artifact {
	t.Helper()
	cfg, r := loadSource(t, name, src)
	arts, err := render.Render(r, render.RenderOptions{MachineID: hostFacts(t).MachineID, StaticLeases: true})
	if err != nil {
		t.Fatalf("render %s: %v", name, err)
	}
	for _, cm := range cfg.Machines {
		m := r.Machine(cm.Name)
		if m.Nebula == nil {
			continue
		}
		pem := func(what string) []byte { return []byte("-----BEGIN " + what + "-----\n") }
		conf, err := nebula.RenderConfig(nebula.RenderInput{Machine: m.Name, Settings: m.Nebula, CA: pem("CA"), Cert: pem("CERT"), Key: pem("KEY")})
		if err != nil {
			t.Fatalf("the nebula config of %s in %s: %v", m.Name, name, err)
		}
		network, err := nebula.RenderUnmanagedNetwork(m.Nebula.Device)
		if err != nil {
			t.Fatalf("the nebula .network file of %s in %s: %v", m.Name, name, err)
		}
		arts = append(arts,
			render.Artifact{Path: nebula.ConfigPath(m.Name), Mode: 0o600, Content: conf},
			render.Artifact{Path: "nebula.network of " + m.Name, Mode: 0o644, InRoot: true, Content: network})
	}
	return arts
}

// listing describes every artefact on one line, content by its bytes' length,
// so that a missing or extra artefact shows up as a line diff.
func listing(arts []render.Artifact) string {
	var lines []string
	for _, a := range arts {
		lines = append(lines, fmt.Sprintf("%s %04o %s inroot=%t symlink=%q bytes=%d", a.Path, a.Mode, a.Owner, a.InRoot, a.Symlink, len(a.Content)))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

// TestTranslateMatchesHCL is the module's main test: the option set
// translates to the golden JSON, which nspawnctl validates and renders to
// byte-for-byte the artefacts of the equivalent HCL file.
func TestTranslateMatchesHCL(t *testing.T) {
	nixInstantiate(t)
	for _, s := range optionSets(t) {
		t.Run(s.name, func(t *testing.T) {
			doc, err := translate(t, s.nix)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join(goldenDir, s.name+".hcl.json"), doc)
			matchesTwin(t, s.hcl, "the translation of "+s.nix, doc)
		})
	}
}

// matchesTwin renders the HCL file twin and the JSON document doc (made by
// what) and fails unless both give the same artefacts, byte for byte.
func matchesTwin(t *testing.T, twin, what string, doc []byte) {
	t.Helper()
	hclSrc, err := os.ReadFile(twin)
	if err != nil {
		t.Fatal(err)
	}
	want := renderSource(t, twin, hclSrc)
	got := renderSource(t, "nixos.hcl.json", doc)
	if a, b := listing(want), listing(got); a != b {
		t.Fatalf("the artefacts of %s (-) and of %s (+) differ:\n%s", twin, what, golden.Diff(a, b))
	}
	wantByPath := map[string]render.Artifact{}
	for _, a := range want {
		wantByPath[a.Path] = a
	}
	for _, a := range got {
		if w := wantByPath[a.Path]; !bytes.Equal(w.Content, a.Content) {
			t.Errorf("%s differs between %s (-) and %s (+):\n%s", a.Path, twin, what, golden.Diff(string(w.Content), string(a.Content)))
		}
	}
}

// TestGoldensHaveOptionSets fails on a golden JSON file whose option set is gone.
func TestGoldensHaveOptionSets(t *testing.T) {
	matches, err := filepath.Glob(filepath.Join(goldenDir, "*.hcl.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range matches {
		name := strings.TrimSuffix(filepath.Base(m), ".hcl.json")
		if _, err := os.Stat(filepath.Join(testsDir, name+".nix")); err != nil {
			t.Errorf("stale golden %s: %s does not exist", m, filepath.Join(testsDir, name+".nix"))
		}
	}
}

// TestTranslateRefusesInvalid checks that mistakes in option sets are
// evaluation errors that name the option, never silently dropped keys.
func TestTranslateRefusesInvalid(t *testing.T) {
	nixInstantiate(t)
	for _, m := range nixFiles(t, invalidDir) {
		t.Run(strings.TrimSuffix(filepath.Base(m), ".nix"), func(t *testing.T) {
			want := expectation(t, m, "error")
			doc, err := translate(t, m)
			if err == nil {
				t.Fatalf("%s translated without an error:\n%s", m, doc)
			}
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("the error does not contain %q:\n%v", want, err)
			}
		})
	}
}

// TestModuleOptionsMatchTranslation evaluates module.nix with nixpkgs' real
// module system (tests/module-options.nix) and checks that every option of a
// machine, zone, bridge and nested block is one that translate.nix accepts,
// and the other way round.
func TestModuleOptionsMatchTranslation(t *testing.T) {
	nixInstantiate(t)
	requireVendorLib(t)
	expr := fmt.Sprintf("import (/. + %s) { moduleDir = /. + %s; }", nixString(abs(t, filepath.Join(testsDir, "module-options.nix"))), nixString(abs(t, ".")))
	out, err := runNix(t, "--eval", "--strict", "--json", "-E", expr)
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	if err := json.Unmarshal(out, &problems); err != nil {
		t.Fatalf("module-options.nix printed %s: %v", out, err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

var _ = golden.Update

// TestSchemaMatchesGo compares the HCL names translate.nix emits for each
// block with the hcl tags of the Go structs nspawnctl decodes them into, so
// that a field added to the config language without the module (or a typo
// in translate.nix) fails here.
func TestSchemaMatchesGo(t *testing.T) {
	nixInstantiate(t)
	expr := fmt.Sprintf("(import (/. + %s)).hclNames", nixString(abs(t, "translate.nix")))
	out, err := runNix(t, "--eval", "--strict", "--json", "-E", expr)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string][]string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	structs := map[string]any{
		"defaults":         config.Defaults{},
		"machine":          config.Machine{},
		"root":             config.Root{},
		"bootstrap":        config.Bootstrap{},
		"limits":           config.Limits{},
		"forwardPort":      config.ForwardPort{},
		"network":          config.Network{},
		"hostNetwork":      config.HostConfig{},
		"ipv6Prefix":       config.IPv6Prefix{},
		"prefixDelegation": config.PrefixDelegation{},
		"containerNetwork": config.ContainerConfig{},
		"nebula":           config.Nebula{},
		"nebulaRule":       config.NebulaRule{},
		"zone":             config.Zone{},
		"bridge":           config.Bridge{},
	}
	for name, v := range structs {
		names, ok := got[name]
		if !ok {
			t.Errorf("translate.nix has no schema %s (for %T)", name, v)
			continue
		}
		have := map[string]bool{}
		for _, n := range names {
			have[n] = true
		}
		want := hclTags(reflect.TypeOf(v))
		for _, n := range want {
			if !have[n] {
				t.Errorf("%T has hcl %q, which translate.nix's %s schema cannot set (add it there, to module.nix and to README.md)", v, n, name)
			}
			delete(have, n)
		}
		for n := range have {
			t.Errorf("translate.nix's %s schema emits %q, which %T does not have", name, n, v)
		}
	}
	for name := range got {
		if _, ok := structs[name]; !ok {
			t.Errorf("translate.nix's schema %s is not compared with a Go struct", name)
		}
	}
}

// hclTags lists a struct's attribute and block names (not labels, bodies or ranges).
func hclTags(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("hcl")
		name, kind, _ := strings.Cut(tag, ",")
		if name == "" || kind == "label" || kind == "label_range" || kind == "body" || kind == "def_range" {
			continue
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
