package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/nspawnctl/nspawnctl/internal/host"
	"github.com/nspawnctl/nspawnctl/machine/engine"
)

func init() { registerCommand(newShellCmd) }

func newShellCmd(a *app) *cobra.Command {
	var hf hostFlags
	var user string
	cmd := &cobra.Command{
		Use:   "shell NAME [-- CMD ARGS...]",
		Short: "Open a shell in a running machine, or run a command in it",
		Long: `shell opens an interactive login shell in a running machine when standard input
is a terminal (through systemd-machined, like machinectl shell). A command runs in the
machine's namespaces, on a new terminal when standard input is one and with nspawnctl's
standard input and output otherwise, and nspawnctl exits with its exit code (128+N when
signal N killed it). With --uid, a command on a terminal goes through machined, which
reports no exit code.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, argv := args[0], args[1:]
			ctx := cmd.Context()
			m, closeFn, err := a.manager(ctx, &hf)
			if err != nil {
				return err
			}
			defer closeFn()
			info, err := m.Machines.Info(ctx, name)
			if errors.Is(err, host.ErrNoMachine) {
				return fmt.Errorf("machine %s is not running; start it with nspawnctl start %s", name, name)
			}
			if err != nil {
				return err
			}
			in, isFile := a.stdin.(*os.File)
			if isFile && term.IsTerminal(int(in.Fd())) {
				if len(argv) > 0 && user == "" {
					// A command: on a terminal of nspawnctl's own, so that
					// its exit code comes back (machined's gives none).
					c, what := nsenterCmd(ctx, info.Leader, argv)
					if t := os.Getenv("TERM"); t != "" {
						c.Env = append(c.Env, "TERM="+t)
					}
					return runOnPTY(c, in, a.stdout, what)
				}
				return a.ptyShell(ctx, m, name, user, argv, in)
			}
			return a.execIn(ctx, info.Leader, argv)
		},
	}
	hf.register(cmd)
	cmd.Flags().StringVarP(&user, "uid", "u", "", "user to run as (default root)")
	return cmd
}

// nsenterCmd runs argv (default /bin/sh) in every namespace of the machine
// whose init is leader, with a clean environment.
func nsenterCmd(ctx context.Context, leader uint32, argv []string) (*exec.Cmd, string) {
	if len(argv) == 0 {
		argv = []string{"/bin/sh"}
	}
	args := append([]string{"--target", strconv.FormatUint(uint64(leader), 10), "--all", "--"}, argv...)
	c := exec.CommandContext(ctx, "nsenter", args...)
	c.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8"}
	return c, argv[0]
}

// execIn runs argv in the machine with nspawnctl's standard streams.
func (a *app) execIn(ctx context.Context, leader uint32, argv []string) error {
	c, what := nsenterCmd(ctx, leader, argv)
	c.Stdin, c.Stdout, c.Stderr = a.stdin, a.stdout, a.stderr
	return exitResult(what, c.Run())
}

// ptyShell relays the terminal to a PTY that machined opened in the machine.
func (a *app) ptyShell(ctx context.Context, m *engine.Manager, name, user string, argv []string, in *os.File) error {
	path := ""
	if len(argv) > 0 {
		path = argv[0]
	}
	env := []string{}
	if t := os.Getenv("TERM"); t != "" {
		env = append(env, "TERM="+t)
	}
	pty, err := m.Machines.OpenShell(ctx, name, user, path, argv, env)
	if err != nil {
		return err
	}
	defer pty.Close()
	old, err := term.MakeRaw(int(in.Fd()))
	if err != nil {
		return fmt.Errorf("switching the terminal to raw mode: %w", err)
	}
	defer term.Restore(int(in.Fd()), old)
	defer followWindowSize(in, pty)()
	go func() { _, _ = io.Copy(pty, in) }()
	_, err = io.Copy(a.stdout, pty)
	var pe *os.PathError
	if errors.As(err, &pe) && errors.Is(pe.Err, syscall.EIO) {
		err = nil // the shell exited and closed the PTY
	}
	return err
}
