package resolve_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/internal/unitfile"
	"github.com/nspawnctl/nspawnctl/machine/config"
	"github.com/nspawnctl/nspawnctl/machine/render"
	"github.com/nspawnctl/nspawnctl/machine/resolve"
)

// fuzzSeeds returns every fixture and example: configuration files under
// testdata/invalid and testdata/valid (including fixture directories) and
// ../examples.
func fuzzSeeds(f *testing.F) map[string][]byte {
	f.Helper()
	seeds := map[string][]byte{}
	for _, root := range []string{"testdata/invalid", "testdata/valid", "../../examples"} {
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !config.IsConfigFile(path) {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			seeds[path] = src
			return nil
		})
		if err != nil && !os.IsNotExist(err) {
			f.Fatal(err)
		}
	}
	return seeds
}

// FuzzValidate feeds arbitrary bytes, as HCL or as HCL's JSON syntax, through
// parsing, validation and rendering, and checks the pipeline's promises: no
// panic; a configuration with errors yields no resolved configuration; one
// without errors always renders; and nothing rendered holds an injected
// section header or a control character.
func FuzzValidate(f *testing.F) {
	for path, src := range fuzzSeeds(f) {
		f.Add(src, strings.HasSuffix(path, ".json"))
	}
	f.Fuzz(func(t *testing.T, src []byte, asJSON bool) {
		checkPipeline(t, src, asJSON)
	})
}

// checkPipeline runs one input through Parse, Validate and Render.
func checkPipeline(t *testing.T, src []byte, asJSON bool) {
	t.Helper()
	name := "fuzz.hcl"
	if asJSON {
		name = "fuzz.hcl.json"
	}
	p := config.NewParser()
	file, diags := p.ParseSource(name, src)
	if file == nil {
		if !diags.HasErrors() {
			t.Fatalf("ParseSource returned no file and no error")
		}
		return
	}
	cfg := &config.Config{Files: []string{name}}
	cfg.Merge(file, &diags)
	r, vd := resolve.Validate(cfg, testFacts)
	for _, d := range vd {
		if d.Subject == nil || strings.TrimSpace(d.Summary) == "" || strings.TrimSpace(d.Detail) == "" {
			t.Fatalf("validator diagnostic without summary, detail or range: %#v", d)
		}
	}
	if vd.HasErrors() {
		if r != nil {
			t.Fatalf("Validate returned a resolved configuration despite errors: %v", vd)
		}
		return
	}
	if r == nil {
		t.Fatalf("Validate returned neither errors nor a resolved configuration")
	}
	arts, err := render.Render(r, render.RenderOptions{MachineID: testFacts.MachineID, StaticLeases: true})
	if err != nil {
		t.Fatalf("Render failed on a configuration that validated without errors: %v\ninput: %q", err, src)
	}
	allowed := extraSections(r)
	for _, a := range arts {
		if msg := artifactProblem(a, allowed); msg != "" {
			t.Fatalf("%s: %s\ninput: %q\nfile:\n%s", a.Path, msg, src, a.Content)
		}
	}
}

// extraSections lists the section headers a configuration's raw
// pass-through values legitimately add to rendered files.
func extraSections(r *resolve.Resolved) map[string]bool {
	out := map[string]bool{}
	add := func(opts []unitfile.Option) {
		for _, o := range opts {
			out["["+o.Section+"]"] = true
		}
	}
	for _, m := range r.Machines {
		add(m.HostSide.Extra)
		add(m.ContainerSide.Extra)
	}
	for _, z := range r.Zones {
		add(z.Extra)
	}
	for _, b := range r.Bridges {
		add(b.Extra)
		add(b.NetdevExtra)
	}
	return out
}
