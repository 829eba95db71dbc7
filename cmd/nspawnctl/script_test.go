package main

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the test binary act as the nspawnctl command inside scripts:
// testscript re-executes it under the name "nspawnctl", so every script runs
// the real main path (flag parsing, exit codes, stdout/stderr) in its own
// process.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"nspawnctl": func() {
			os.Exit(run(&app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:]))
		},
	})
}

// TestScripts runs the CLI scenarios in testdata/script/*.txtar: each is a
// command transcript with the files it needs, readable as documentation of
// what a user types and sees. MACHINE_ID keeps allocations independent of
// the test host.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("MACHINE_ID", testMachineID)
			return nil
		},
		RequireExplicitExec: true,
		Cmds:                map[string]func(*testscript.TestScript, bool, []string){"exits": cmdExits},
	})
}

// cmdExits is the scripts' "exits CODE PROGRAM ARGS...": it runs PROGRAM as
// exec does and fails unless it exits with CODE, because the exit codes are
// part of the CLI's contract and exec's "!" only tells zero from non-zero.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: bad code %q", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exits: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}
