package nat

import (
	"errors"
	"fmt"
	"strings"
)

// MachineError is an error in one machine's definition or in how it meets
// the others (an invalid forward, a port or address another machine uses, a
// corrupt record): a configuration problem the user fixes by changing the
// configuration, not a refusal of the kernel. Callers tell the two apart
// with errors.As (the CLI gives MachineError exit code 3). Err's message
// names the machine already, so Error is Err's message unchanged.
type MachineError struct {
	Machine string // the machine the error is about
	Err     error
}

func (e *MachineError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error, so errors.Is(err, ErrNotFound) holds.
func (e *MachineError) Unwrap() error { return e.Err }

// machineErrorf returns a MachineError about machine with the message of
// fmt.Errorf(format, args...).
func machineErrorf(machine, format string, args ...any) error {
	return &MachineError{Machine: machine, Err: fmt.Errorf(format, args...)}
}

// IsMachineError reports whether err is, or wraps, a MachineError.
func IsMachineError(err error) bool {
	var me *MachineError
	return errors.As(err, &me)
}

// machineErrors is several MachineErrors reported at once, joined with "; ".
type machineErrors []error

func (es machineErrors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

// Unwrap lets errors.As find each MachineError.
func (es machineErrors) Unwrap() []error { return es }
