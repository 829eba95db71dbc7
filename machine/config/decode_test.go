package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/nspawnctl/nspawnctl/internal/diag"
)

// TestDecodeBodyMatchesGohcl decodes every example and test fixture, valid
// and invalid, with decodeBody and with gohcl.DecodeBody, which it replaces
// for speed: the decoded values and the diagnostics must be the same.
func TestDecodeBodyMatchesGohcl(t *testing.T) {
	var files []string
	for _, pattern := range []string{
		"../../examples/*.hcl*", "../../examples/*/*.hcl*",
		"../testdata/valid/*.hcl*", "../testdata/invalid/*.hcl*",
	} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	extra := map[string]string{
		// Number literals in string fields, in and out of the fast path.
		"numbers.hcl": `machine "a" {
  forward_port {
    host_port      = 0
    container_port = 9007199254740991
  }
  forward_port {
    host_port      = 9007199254740992
    container_port = 1.5
  }
  forward_port {
    host_port      = 1e3
    container_port = -80
  }
  forward_port {
    host_port      = 8000
    container_port = "${80}"
  }
  private_users = 65536
  limits {
    tasks_max = 12
    nofile    = 1.5
  }
}
`,
		"dup.hcl": "machine \"a\" {\n  root {}\n  root {}\n  limits {}\n  boot = \"x\"\n  bogus = 1\n}\nmachine {}\n",
	}
	dir := t.TempDir()
	for name, src := range extra {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, path)
	}
	if len(files) < 20 {
		t.Fatalf("found only %d configuration files", len(files))
	}
	for _, path := range files {
		if strings.HasSuffix(path, ".errors") || strings.HasSuffix(path, ".golden") || !IsConfigFile(path) {
			continue
		}
		t.Run(filepath.Base(path), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if hugeNumbers(path, src).HasErrors() {
				t.Skip("refused before decoding") // as ParseSource does: converting it takes minutes
			}
			p := hclparse.NewParser()
			var f *hcl.File
			if strings.HasSuffix(path, ".json") {
				f, _ = p.ParseJSON(src, path)
			} else {
				f, _ = p.ParseHCL(src, path)
			}
			if f == nil || f.Body == nil {
				t.Skip("does not parse")
			}
			var want, got File
			wantDiags := gohcl.DecodeBody(f.Body, nil, &want)
			gotDiags := decodeBody(f.Body, &got)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decoded value differs from gohcl's:\n got  %#v\n want %#v", got, want)
			}
			diag.Sort(wantDiags)
			diag.Sort(gotDiags)
			if g, w := diagText(gotDiags), diagText(wantDiags); g != w {
				t.Errorf("diagnostics differ from gohcl's:\n got:\n%s\n want:\n%s", g, w)
			}
		})
	}
}

func diagText(diags hcl.Diagnostics) string {
	var sb strings.Builder
	for _, d := range diags {
		fmt.Fprintf(&sb, "%v %d: %s: %s\n", d.Subject, d.Severity, d.Summary, d.Detail)
	}
	return sb.String()
}

// TestMayHoldHugeNumber checks the prefilter that skips hugeNumbers' lexing
// pass: it must say yes for every literal hugeNumbers would parse.
func TestMayHoldHugeNumber(t *testing.T) {
	for src, want := range map[string]bool{
		"a = 1e100000000":          true,
		"a = 1E5":                  true,
		"a = .5e3":                 true,
		"a = 12345678901234567890": true,
		"a = 1234567890.123456789": true,
		`{"a": 2e-400}`:            true,
		"machine \"m1\" {\n  host_port = 8080\n}": false,
		"ipv4_pool = \"10.0.0.0/8\"":              false,
		"name = \"e1\"":                           false,
	} {
		if got := mayHoldHugeNumber([]byte(src)); got != want {
			t.Errorf("mayHoldHugeNumber(%q) = %v, want %v", src, got, want)
		}
	}
}
