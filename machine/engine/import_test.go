package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/internal/host"
)

// A tarball import with real tar: gzip is recognised on the pipe, the root
// is complete, and a terminal sees bytes done of total; without a terminal
// nothing is printed.
func TestImportTarballShowsProgressOnATerminal(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("tar is missing")
	}
	src := t.TempDir()
	payload := make([]byte, 3<<20)
	rand.Read(payload)
	if err := os.WriteFile(filepath.Join(src, "blob"), payload, 0o644); err != nil {
		t.Fatal(err)
	}
	m, _, _ := testManager(t)
	tarball := filepath.Join(m.FSRoot, "root.tar.gz")
	if out, err := exec.Command("tar", "-czf", tarball, "-C", src, "blob").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	st, _ := os.Stat(tarball)
	var runOut bytes.Buffer
	m.Run = host.ExecRun(&runOut)
	for _, onTerminal := range []bool{true, false} {
		var progress bytes.Buffer
		m.Progress = nil
		if onTerminal {
			m.Progress = &progress
		}
		dst := t.TempDir()
		if err := m.importTarball(context.Background(), "/root.tar.gz", dst); err != nil {
			t.Fatalf("import: %v (%s)", err, runOut.String())
		}
		if got, err := os.ReadFile(filepath.Join(dst, "blob")); err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("the imported file differs (%v)", err)
		}
		last := fmt.Sprintf("importing root.tar.gz: %s of %s (100%%)\n", mib(st.Size()), mib(st.Size()))
		if onTerminal && (!strings.HasSuffix(progress.String(), last) || strings.Count(progress.String(), "\r") < 3) {
			t.Errorf("progress on a terminal = %q, want updates ending in %q", progress.String(), last)
		}
		if !onTerminal && progress.Len() != 0 {
			t.Errorf("progress without a terminal: %q", progress.String())
		}
	}
	if runOut.Len() != 0 {
		t.Errorf("tar printed %q", runOut.String())
	}
}
