package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// unixWinsize is a terminal size for TIOCSWINSZ.
type unixWinsize struct{ Row, Col uint16 }

func (w *unixWinsize) set(f *os.File) error {
	return unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: w.Row, Col: w.Col})
}
