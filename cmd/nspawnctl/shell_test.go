package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// execIn runs the real nsenter against a process in this test's own
// namespaces: a command that dies of a signal gives 128+N and says so, as a
// shell does, and an ordinary exit code passes through unchanged.
func TestExecInExitCodes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("nsenter needs root")
	}
	if _, err := exec.LookPath("nsenter"); err != nil {
		t.Skip("nsenter is missing")
	}
	leader := exec.Command("sleep", "60")
	if err := leader.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = leader.Process.Kill(); _ = leader.Wait() }()
	pid := uint32(leader.Process.Pid)

	for _, tc := range []struct {
		script string
		code   int
		msg    string
	}{
		{"kill -9 $$", 137, "killed by signal 9 (SIGKILL)"},
		{"kill -TERM $$", 143, "killed by signal 15 (SIGTERM)"},
		{"exit 3", 3, ""},
	} {
		var out, errOut bytes.Buffer
		a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut}
		err := a.execIn(context.Background(), pid, []string{"sh", "-c", tc.script})
		var ee *exitError
		if !errors.As(err, &ee) {
			t.Fatalf("%s: error %v has no exit code", tc.script, err)
		}
		if ee.code != tc.code {
			t.Errorf("%s: exit code %d, want %d", tc.script, ee.code, tc.code)
		}
		if got := ee.err.Error(); (tc.msg == "" && got != "") || !strings.Contains(got, tc.msg) {
			t.Errorf("%s: message %q, want one with %q", tc.script, got, tc.msg)
		}
	}
}
