// Command nspawnctl manages systemd-nspawn containers declared in HCL files:
// it validates and renders their systemd artefacts, installs their NAT rules
// and drives their lifecycle through systemd and machined.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// Exit codes are part of the CLI's contract (documented in docs/cli.md).
const (
	exitOK      = 0 // success
	exitFailure = 1 // a runtime error: the host, systemd or the kernel refused something
	exitUsage   = 2 // the command line itself is wrong
	exitInvalid = 3 // a configuration file has errors; nothing was written
	exitDiffers = 4 // a check (fmt --check, nat show) found differences
)

// exitError carries an exit code through cobra's error return.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withCode wraps err so that main exits with code.
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// app holds what every command writes to, so tests can run commands in-process.
type app struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// commandBuilders is filled by each command file's init, so that a new verb is
// one new file and nobody edits a shared list.
var commandBuilders []func(*app) *cobra.Command

func registerCommand(build func(*app) *cobra.Command) {
	commandBuilders = append(commandBuilders, build)
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "nspawnctl",
		Short:         "Declarative systemd-nspawn containers: config in, plain systemd out",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return withCode(exitUsage, err) })
	// A root with a RunE reports an unknown verb itself, with exit code 2;
	// cobra's own report of it is an ordinary error (exit code 1).
	root.Args = cobra.ArbitraryArgs
	root.SuggestionsMinimumDistance = 2
	root.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		hint := ""
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			hint = fmt.Sprintf(" Did you mean %q?", s[0])
		}
		return withCode(exitUsage, fmt.Errorf("unknown command %q; run 'nspawnctl --help' for the list of commands.%s", args[0], hint))
	}
	for _, build := range commandBuilders {
		root.AddCommand(usageArgs(build(a)))
	}
	return root
}

// usageArgs makes a wrong number of arguments a usage error (exit code 2),
// as a wrong flag is, for cmd and its subcommands.
func usageArgs(cmd *cobra.Command) *cobra.Command {
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error { return withCode(exitUsage, check(c, args)) }
	}
	for _, sub := range cmd.Commands() {
		usageArgs(sub)
	}
	return cmd
}

// run executes the CLI and returns the process exit code.
func run(a *app, args []string) int {
	root := newRootCmd(a)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintf(a.stderr, "nspawnctl: %v\n", ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(a.stderr, "nspawnctl: %v\n", err)
	return exitFailure
}

func main() {
	os.Exit(run(&app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:]))
}
