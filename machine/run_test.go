package machine

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// execRunHelperEnv makes the test binary act as an nspawnctl that runs a
// child through ExecRun and is then killed.
const execRunHelperEnv = "NSPAWNCTL_TEST_EXECRUN_TOKEN"

func TestExecRunHelperProcess(t *testing.T) {
	token := os.Getenv(execRunHelperEnv)
	if token == "" {
		t.Skip("helper process for TestExecRunChildrenDieWithNspawnctl")
	}
	// A child (sh) that started a grandchild, as tar starts gzip and
	// mmdebstrap starts apt and dpkg.
	script := fmt.Sprintf("sleep 7777.%s & sleep 7778.%s; wait", token, token)
	_ = ExecRun(io.Discard)(context.Background(), nil, "sh", "-c", script)
	os.Exit(0)
}

// processesWith returns the PIDs whose command line contains token.
func processesWith(token string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(token)) {
			out = append(out, e.Name())
		}
	}
	return out
}

// SIGKILL of nspawnctl while ExecRun waits for a program kills the program
// and what the program started, with no cleanup code running in nspawnctl.
func TestExecRunChildrenDieWithNspawnctl(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (a PID namespace per program)")
	}
	token := fmt.Sprintf("%d%d", os.Getpid(), time.Now().UnixNano()%100000)
	helper := exec.Command(os.Args[0], "-test.run=^TestExecRunHelperProcess$")
	helper.Env = append(os.Environ(), execRunHelperEnv+"="+token)
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, pid := range processesWith("sleep 777") {
			if b, _ := os.ReadFile("/proc/" + pid + "/cmdline"); strings.Contains(string(b), token) {
				_ = exec.Command("kill", "-9", pid).Run()
			}
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for len(processesWith(token)) < 2 {
		if time.Now().After(deadline) {
			_ = helper.Process.Kill()
			t.Fatalf("the helper's child and grandchild did not start: %v", processesWith(token))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := helper.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = helper.Wait()
	deadline = time.Now().Add(30 * time.Second)
	for {
		left := processesWith(token)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes %v outlived the SIGKILLed nspawnctl", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

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
	m.Run = ExecRun(&runOut)
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
