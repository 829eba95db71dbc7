package e2e

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMatrixNamesScenarios: every line of matrix.txt names a test function of
// this package. run.sh anchors the names (^(A|B)$), so a misspelt or renamed
// one would silently run nothing on the newer suites.
func TestMatrixNamesScenarios(t *testing.T) {
	tests := map[string]bool{}
	files, _ := filepath.Glob("*_test.go")
	fset := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && strings.HasPrefix(fd.Name.Name, "Test") {
				tests[fd.Name.Name] = true
			}
		}
	}
	f, err := os.Open("matrix.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		name, _, _ := strings.Cut(sc.Text(), "#")
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		n++
		if !tests[name] {
			t.Errorf("matrix.txt: %q is not a test function in e2e/*_test.go", name)
		}
	}
	if n == 0 {
		t.Error("matrix.txt names no scenario")
	}
}
