// Package golden compares test output with files under testdata and rewrites
// them when the tests run with -update (go test ./... -update).
//
// Every package with tests imports this package, directly or through a helper,
// so that the -update flag is defined in every test binary of the module.
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/nspawnctl/nspawnctl/internal/linediff"
)

// Update is true when the tests were started with -update.
var Update = flag.Bool("update", false, "rewrite golden files with the current output")

// Check compares got with the file at path (relative to the test's package
// directory). With -update it writes got to path instead, creating
// directories as needed.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file %s: %v (run go test with -update to create it)", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (run go test with -update and review the diff):\n%s", path, linediff.Diff(string(want), string(got)))
	}
}

// Diff returns a line diff of want and got for test failure messages.
func Diff(want, got string) string { return linediff.Diff(want, got) }
