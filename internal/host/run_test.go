package host

import (
	"bytes"
	"context"
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
