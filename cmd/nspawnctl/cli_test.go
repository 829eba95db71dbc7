package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/internal/golden"
)

var _ = golden.Update // every test package defines -update

// testMachineID keeps allocations independent of the test host.
const testMachineID = "0123456789abcdef0123456789abcdef"

// runCLI runs nspawnctl in-process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(&app{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut}, args)
	return code, out.String(), errOut.String()
}

// writeConfig writes a configuration file into a fresh directory.
func writeConfig(t *testing.T, name, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// listTree returns every path under root, relative to it.
func listTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

const validConfig = `machine "web" {
  forward_port {
    host_port      = 8080
    container_port = 80
  }
}
`

// invalidConfig has two errors (lines 2 and 5) and one valid machine, which
// must not be rendered either.
const invalidConfig = `machine "ok" {}
machine "web" { timeout_stop = "soon" }
machine "db" {
  forward_port {
    host_port = 70000
  }
}
`

const invalidJSON = `{
  "machine": {
    "web": {
      "timeout_stop": "5s\n[Service]"
    }
  }
}
`

func TestValidateValidExitsZero(t *testing.T) {
	for _, path := range []string{writeConfig(t, "web.hcl", validConfig), "../../examples/quickstart.hcl"} {
		code, stdout, stderr := runCLI(t, "validate", "--machine-id", testMachineID, path)
		if code != exitOK {
			t.Fatalf("validate %s exited %d, want 0; stderr:\n%s", path, code, stderr)
		}
		if !strings.Contains(stdout, "configuration is valid: 1 machine(s)") {
			t.Errorf("validate %s printed %q", path, stdout)
		}
	}
}

func TestValidateInvalidPrintsLocations(t *testing.T) {
	for _, c := range []struct {
		name, src string
		want      []string // FILE:LINE:COL prefixes that must appear, FILE relative to the config's directory
	}{
		{"bad.hcl", invalidConfig, []string{"bad.hcl:2:32: error: Invalid time span", "bad.hcl:5:17: error: Invalid host port"}},
		{"bad.hcl.json", invalidJSON, []string{"bad.hcl.json:4:23: error: Invalid time span"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeConfig(t, c.name, c.src)
			code, stdout, stderr := runCLI(t, "validate", "--machine-id", testMachineID, path)
			if code != exitInvalid {
				t.Fatalf("validate exited %d, want %d; stderr:\n%s", code, exitInvalid, stderr)
			}
			if stdout != "" {
				t.Errorf("validate of an invalid configuration printed to stdout: %q", stdout)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, filepath.Join(filepath.Dir(path), w)) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			// Every error also carries a snippet of the source line it is about.
			if !regexp.MustCompile(`(?m)^\s+\d+: `).MatchString(stderr) {
				t.Errorf("stderr has no source snippet:\n%s", stderr)
			}
		})
	}
}

func TestRenderInvalidWritesNothing(t *testing.T) {
	for _, c := range []struct{ name, src string }{
		{"bad.hcl", invalidConfig},
		{"bad.hcl.json", invalidJSON},
		{"syntax.hcl", "machine \"web\" {\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeConfig(t, c.name, c.src)
			root := t.TempDir()
			code, stdout, stderr := runCLI(t, "render", "--root", root, "--machine-id", testMachineID, path)
			if code != exitInvalid {
				t.Fatalf("render exited %d, want %d; stderr:\n%s", code, exitInvalid, stderr)
			}
			if got := listTree(t, root); len(got) != 0 {
				t.Errorf("render of an invalid configuration wrote %v", got)
			}
			if stdout != "" {
				t.Errorf("render printed %q", stdout)
			}
			if !strings.Contains(stderr, "nothing was written") {
				t.Errorf("stderr does not say that nothing was written:\n%s", stderr)
			}
			// A root that does not exist yet is not even created.
			missing := filepath.Join(t.TempDir(), "new")
			if code, _, _ := runCLI(t, "render", "--root", missing, "--machine-id", testMachineID, path); code != exitInvalid {
				t.Fatalf("render exited %d, want %d", code, exitInvalid)
			}
			if _, err := os.Stat(missing); !os.IsNotExist(err) {
				t.Errorf("render of an invalid configuration created %s", missing)
			}
		})
	}
}

// TestRenderInvalidAmongValidFiles checks that one bad file in a directory
// stops the good files from being rendered too.
func TestRenderInvalidAmongValidFiles(t *testing.T) {
	dir := t.TempDir()
	for name, src := range map[string]string{"a.hcl": validConfig, "b.hcl": "machine \"db\" {\n  bind = [\"relative\"]\n}\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root := t.TempDir()
	code, _, stderr := runCLI(t, "render", "--root", root, "--machine-id", testMachineID, dir)
	if code != exitInvalid {
		t.Fatalf("render exited %d, want %d; stderr:\n%s", code, exitInvalid, stderr)
	}
	if got := listTree(t, root); len(got) != 0 {
		t.Errorf("render wrote %v", got)
	}
	if !strings.Contains(stderr, filepath.Join(dir, "b.hcl")+":2:") {
		t.Errorf("stderr does not locate the error in b.hcl line 2:\n%s", stderr)
	}
}

func TestRenderValidWritesFiles(t *testing.T) {
	path := writeConfig(t, "web.hcl", validConfig)
	root := t.TempDir()
	code, stdout, stderr := runCLI(t, "render", "--root", root, "--machine-id", testMachineID, path)
	if code != exitOK {
		t.Fatalf("render exited %d; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"etc/systemd/nspawn/web.nspawn", "etc/systemd/system/systemd-nspawn@web.service.d/nspawnctl.conf"} {
		if _, err := os.Stat(filepath.Join(root, want)); err != nil {
			t.Errorf("render did not write %s: %v", want, err)
		}
	}
	if !strings.Contains(stdout, "written") {
		t.Errorf("render printed %q", stdout)
	}
	// A second run finds everything in place.
	_, stdout, _ = runCLI(t, "render", "--root", root, "--machine-id", testMachineID, path)
	if strings.Contains(stdout, "written ") {
		t.Errorf("second render rewrote files:\n%s", stdout)
	}
}

func TestRenderWithoutRootIsUsageError(t *testing.T) {
	path := writeConfig(t, "web.hcl", validConfig)
	if code, _, _ := runCLI(t, "render", "--machine-id", testMachineID, path); code != exitUsage {
		t.Errorf("render without --root exited %d, want %d", code, exitUsage)
	}
}
