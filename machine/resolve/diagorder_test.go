package resolve_test

import (
	"fmt"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// TestDiagnosticsDeterministicAndSorted validates every invalid fixture
// several times: the diagnostics must come out identical each time (no Go
// map order leaking through, e.g. environment and capabilities) and sorted
// by file and position.
func TestDiagnosticsDeterministicAndSorted(t *testing.T) {
	for _, path := range fixtures(t, "testdata/invalid") {
		t.Run(caseName(path), func(t *testing.T) {
			files := fixtureFiles(t, path)
			_, first := loadAndValidate(files)
			for run := 0; run < 20; run++ {
				_, again := loadAndValidate(files)
				if a, b := diagText(first), diagText(again); a != b {
					t.Fatalf("run %d gave other diagnostics or another order:\n%s\nvs.\n%s", run, a, b)
				}
			}
			for i := 1; i < len(first); i++ {
				a, b := first[i-1].Subject, first[i].Subject
				if a == nil || b == nil {
					continue
				}
				if a.Filename > b.Filename || a.Filename == b.Filename && a.Start.Byte > b.Start.Byte {
					t.Errorf("diagnostic %d (%s) comes before %d (%s) but is later in the source", i-1, a, i, b)
				}
			}
		})
	}
}

// diagText prints diagnostics one a line, for comparing two runs.
func diagText(diags hcl.Diagnostics) string {
	var s string
	for _, d := range diags {
		s += fmt.Sprintf("%v: %s: %s\n", d.Subject, d.Summary, d.Detail)
	}
	return s
}
