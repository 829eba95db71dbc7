package engine

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/machine/render"
)

// WriteTree puts each artefact at its host path under the root, with its
// mode or link target; a second run reports every one unchanged and
// touches nothing, and a changed artefact is the only one written again.
func TestWriteTree(t *testing.T) {
	root := t.TempDir()
	arts := []render.Artifact{
		{Path: "/etc/systemd/nspawn/web.nspawn", Content: []byte("[Exec]\nBoot=yes\n"), Mode: 0o644},
		{Path: "/etc/nspawnctl/nebula/web/host.key", Content: []byte("secret\n"), Mode: 0o600},
		{Path: "/etc/systemd/system/machines.target.wants/systemd-nspawn@web.service", Symlink: "/lib/systemd/system/systemd-nspawn@.service"},
	}
	written := func(ws []TreeWrite) []string {
		var out []string
		for _, w := range ws {
			out = append(out, w.Path+" "+map[bool]string{true: "written", false: "unchanged"}[w.Written])
		}
		return out
	}

	got, err := WriteTree(root, arts)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{arts[0].Path + " written", arts[1].Path + " written", arts[2].Path + " written"}
	if !slices.Equal(written(got), want) {
		t.Errorf("first run: %v, want %v", written(got), want)
	}
	for _, a := range arts[:2] {
		st, err := os.Stat(filepath.Join(root, a.Path))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != os.FileMode(a.Mode) {
			t.Errorf("%s has mode %v, want %v", a.Path, st.Mode().Perm(), os.FileMode(a.Mode))
		}
		if b, _ := os.ReadFile(filepath.Join(root, a.Path)); string(b) != string(a.Content) {
			t.Errorf("%s holds %q, want %q", a.Path, b, a.Content)
		}
	}
	if target, err := os.Readlink(filepath.Join(root, arts[2].Path)); err != nil || target != arts[2].Symlink {
		t.Errorf("link %s -> %q (%v), want %q", arts[2].Path, target, err, arts[2].Symlink)
	}

	before, _ := os.Stat(filepath.Join(root, arts[0].Path))
	got, err = WriteTree(root, arts)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range got {
		if w.Written {
			t.Errorf("second run wrote %s again", w.Path)
		}
	}
	if after, _ := os.Stat(filepath.Join(root, arts[0].Path)); !os.SameFile(before, after) {
		t.Errorf("second run replaced %s, which had the rendered content", arts[0].Path)
	}

	arts[0].Content = []byte("[Exec]\nBoot=no\n")
	got, err = WriteTree(root, arts)
	if err != nil {
		t.Fatal(err)
	}
	want = []string{arts[0].Path + " written", arts[1].Path + " unchanged", arts[2].Path + " unchanged"}
	if !slices.Equal(written(got), want) {
		t.Errorf("after a change: %v, want %v", written(got), want)
	}
}

// An artefact that cannot be written stops WriteTree with an error naming
// its path, and what was written before it is reported.
func TestWriteTreeStopsAtTheFirstFailure(t *testing.T) {
	root := t.TempDir()
	// A file where the next artefact needs a directory.
	if err := os.MkdirAll(filepath.Join(root, "etc/systemd"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/systemd/network"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	arts := []render.Artifact{
		{Path: "/etc/systemd/nspawn/web.nspawn", Content: []byte("[Exec]\n"), Mode: 0o644},
		{Path: "/etc/systemd/network/20-ve-web.network", Content: []byte("[Match]\n"), Mode: 0o644},
		{Path: "/etc/systemd/system/web.conf", Content: []byte("[Service]\n"), Mode: 0o644},
	}
	got, err := WriteTree(root, arts)
	if err == nil || !strings.Contains(err.Error(), "network") {
		t.Fatalf("err = %v, want the failure to write under etc/systemd/network", err)
	}
	if len(got) != 1 || got[0].Path != arts[0].Path || !got[0].Written {
		t.Errorf("reported %+v, want only %s written", got, arts[0].Path)
	}
	if _, err := os.Stat(filepath.Join(root, arts[2].Path)); err == nil {
		t.Errorf("%s was written after the failure", arts[2].Path)
	}
}
