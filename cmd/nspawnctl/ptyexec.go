package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// openPTYPair opens a new pseudo-terminal: its controlling side (master)
// and its terminal side (for the child's standard streams).
func openPTYPair() (master, tty *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("opening a pseudo-terminal: %w", err)
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("unlocking the pseudo-terminal: %w", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("numbering the pseudo-terminal: %w", err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("opening the pseudo-terminal's terminal side: %w", err)
	}
	return master, tty, nil
}

// ptyDrain bounds how long output that the command left in the
// pseudo-terminal is read after the command exited: a process it put in the
// background may hold the terminal open for ever, and everything written
// before the exit is already in the buffer.
const ptyDrain = 250 * time.Millisecond

// runOnPTY runs c on a new pseudo-terminal as the session leader with it as
// the controlling terminal, relays the user's terminal in (raw, window size
// kept in step) and the output to out, and returns c's exit like execIn
// does. machined's OpenMachineShell gives only the terminal, not the exit
// status, so a command on a terminal runs this way.
func runOnPTY(c *exec.Cmd, in *os.File, out io.Writer, what string) error {
	master, tty, err := openPTYPair()
	if err != nil {
		return err
	}
	defer master.Close()
	c.Stdin, c.Stdout, c.Stderr = tty, tty, tty
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	defer followWindowSize(in, master)()
	old, err := term.MakeRaw(int(in.Fd()))
	if err != nil {
		tty.Close()
		return fmt.Errorf("switching the terminal to raw mode: %w", err)
	}
	defer term.Restore(int(in.Fd()), old)
	if err := c.Start(); err != nil {
		tty.Close()
		return fmt.Errorf("running %s in the machine: %w", what, err)
	}
	tty.Close() // the child has it; EIO on master once the child side is gone
	go func() { _, _ = io.Copy(master, in) }()
	copied := make(chan struct{})
	go func() { _, _ = io.Copy(out, master); close(copied) }()
	werr := c.Wait()
	_ = master.SetReadDeadline(time.Now().Add(ptyDrain))
	<-copied
	return exitResult(what, werr)
}

// exitResult turns the end of a command run through nsenter into
// nspawnctl's: its exit code, or 128+N for death by signal N, as a shell
// reports it.
func exitResult(what string, err error) error {
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		// nsenter re-raises the signal its child died of, so a signal
		// shows as nsenter's own death; report it as a shell does.
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			sig := ws.Signal()
			return withCode(128+int(sig), fmt.Errorf("%s in machine was killed by signal %d (%s)", what, int(sig), unix.SignalName(sig)))
		}
		return withCode(ee.ExitCode(), errors.New(""))
	}
	return fmt.Errorf("running %s in the machine: %w", what, err)
}

// followWindowSize gives the pseudo-terminal pty the window size of the
// user's terminal in, now and on every SIGWINCH, until the returned
// function is called.
func followWindowSize(in, pty *os.File) (stop func()) {
	resize := func() {
		if w, h, err := term.GetSize(int(in.Fd())); err == nil {
			ws := &unixWinsize{Row: uint16(h), Col: uint16(w)}
			_ = ws.set(pty)
		}
	}
	resize()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGWINCH)
	go func() {
		for range sigs {
			resize()
		}
	}()
	return func() { signal.Stop(sigs); close(sigs) }
}
