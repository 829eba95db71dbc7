package host

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"syscall"
)

// ExecRun runs a program (tar, mmdebstrap) with stdin as its input and its
// output going to out; it is Manager.Run in production.
//
// The program and everything it starts die with nspawnctl, also when
// nspawnctl is killed with SIGKILL and runs no cleanup: the program is the
// first process (PID 1) of a PID namespace of its own, with SIGKILL as its
// parent-death signal. When nspawnctl dies the kernel kills the program,
// and when a namespace's first process dies the kernel kills every other
// process in it (tar's gzip, mmdebstrap's apt and dpkg). Without this a
// killed create left tar writing into the root's temporary directory, and
// the re-run could not remove it.
func ExecRun(out io.Writer) func(ctx context.Context, stdin io.Reader, name string, args ...string) error {
	return func(ctx context.Context, stdin io.Reader, name string, args ...string) error {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, out, out
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Cloneflags: syscall.CLONE_NEWPID}
		if err := runLocked(cmd); err != nil {
			return fmt.Errorf("%s failed: %w", name, err)
		}
		return nil
	}
}

// runLocked starts and waits for cmd on one locked OS thread. The kernel
// sends the parent-death signal when the thread that forked the child ends,
// not the process; Go may end an idle thread, which would kill the child
// while nspawnctl still waits for it.
func runLocked(cmd *exec.Cmd) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			done <- err
			return
		}
		done <- cmd.Wait()
	}()
	return <-done
}
