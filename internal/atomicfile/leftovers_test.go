package atomicfile

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// A leftover of an interrupted Write is found by RemoveLeftovers, and
// nothing else in the directory is touched: not another target's temporary
// file, not a file that only looks similar.
func TestRemoveLeftoversTakesOnlyTheTargetsTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "web.nspawn")
	// What os.CreateTemp makes for Write, with the real pattern.
	f, err := os.CreateTemp(dir, "."+filepath.Base(target)+tempMarker+"*")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	keep := []string{"web.nspawn", ".db.nspawn.nspawnctl-123", ".web.nspawn.nspawnctl-backup", ".web.nspawn.nspawnctl-", "web.nspawn.nspawnctl-42", ".web.nspawn.bak"}
	for _, n := range append(keep, ".web.nspawn.nspawnctl-link") {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := RemoveLeftovers(target); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	sort.Strings(got)
	sort.Strings(keep)
	if len(got) != len(keep) {
		t.Fatalf("after RemoveLeftovers: %q, want %q", got, keep)
	}
	for i := range got {
		if got[i] != keep[i] {
			t.Fatalf("after RemoveLeftovers: %q, want %q", got, keep)
		}
	}
	// A directory that does not exist has no leftovers.
	if err := RemoveLeftovers(filepath.Join(dir, "none/x")); err != nil {
		t.Errorf("missing directory: %v", err)
	}
}
