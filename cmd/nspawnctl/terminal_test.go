package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY opens a new pseudo-terminal and returns its terminal side.
func openPTY(t *testing.T) *os.File {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return tty
}

// Progress lines (a tarball import's bytes done of total) go to stderr when
// it is a terminal, and nowhere when it is a pipe or a file.
func TestProgressOnlyOnATerminal(t *testing.T) {
	if w := (&app{stderr: openPTY(t)}).terminal(); w == nil {
		t.Error("stderr on a terminal gets no progress")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if got := (&app{stderr: w}).terminal(); got != nil {
		t.Error("stderr on a pipe gets progress")
	}
}

// A command on a terminal (shell NAME -- CMD with a TTY) runs on a
// pseudo-terminal of its own, as its controlling terminal, and its exit
// code, or 128+N for signal N, comes back as nspawnctl's.
func TestCommandOnATerminalPassesItsExitCodeOn(t *testing.T) {
	for _, tc := range []struct {
		script string
		code   int
	}{
		{"test -t 0 && test -t 1 && echo on-a-tty; exit 3", 3},
		{"echo fine", 0},
		{"kill -TERM $$", 128 + 15},
	} {
		in := openPTY(t)
		var out bytes.Buffer
		err := runOnPTY(exec.Command("sh", "-c", tc.script), in, &out, "sh")
		code := 0
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		} else if err != nil {
			t.Fatalf("%q: %v", tc.script, err)
		}
		if code != tc.code {
			t.Errorf("%q: exit code %d, want %d (output %q)", tc.script, code, tc.code, out.String())
		}
		if tc.code == 3 && !strings.Contains(out.String(), "on-a-tty") {
			t.Errorf("%q: output %q, want on-a-tty (the command's streams are a terminal)", tc.script, out.String())
		}
	}
}
