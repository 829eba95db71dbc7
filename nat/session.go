package nat

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/vishvananda/netns"

	"github.com/nspawnctl/nspawnctl/internal/filelock"
	"github.com/nspawnctl/nspawnctl/internal/linediff"
)

// Session is one exclusive hold on the store and on the kernel of the host
// or of one network namespace: what every "nat" command and the refresh of
// a running machine after apply or rollback work through. Open it, call one
// operation, Close it.
type Session struct {
	Store   *Store
	Applier *Applier
	ns      netns.NsHandle
	release func()
}

// NamespaceError is a network namespace file that cannot be opened: the
// caller gave a wrong path (the CLI's --netns), nothing was changed.
type NamespaceError struct {
	Path string
	Err  error
}

func (e *NamespaceError) Error() string {
	return fmt.Sprintf("open network namespace %s: %v", e.Path, e.Err)
}

// Unwrap returns the underlying error.
func (e *NamespaceError) Unwrap() error { return e.Err }

// Open takes the store's lock under stateDir (waiting up to lockWait) and
// connects to nf_tables in the namespace of the file netnsPath, or the
// host's when it is "". warn receives what the applier works around.
func Open(stateDir, netnsPath string, lockWait time.Duration, warn func(format string, args ...any)) (*Session, error) {
	// Hooks of machines starting at the same moment run concurrently, and
	// each reads the kernel's state before it sends its batch: take turns.
	// This lock is not the machine state's, which create, apply and remove
	// hold while systemd runs these hooks.
	release, err := filelock.Acquire(filepath.Join(stateDir, "nat", "lock"), lockWait)
	if err != nil {
		return nil, err
	}
	s := &Session{Store: NewStore(stateDir), ns: netns.None(), release: release}
	if netnsPath != "" {
		ns, err := netns.GetFromPath(netnsPath)
		if err != nil {
			s.Close()
			return nil, &NamespaceError{Path: netnsPath, Err: err}
		}
		s.ns = ns
	}
	conn, err := NewConn(int(s.ns))
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open an nftables connection: %w", err)
	}
	s.Applier = &Applier{Conn: conn, Links: NamespaceLinks{NS: s.ns}, Conntrack: NamespaceConntrack{NS: s.ns}, Warn: warn}
	return s, nil
}

// Close releases the lock and the namespace.
func (s *Session) Close() {
	if s.release != nil {
		s.release()
		s.release = nil
	}
	if s.ns.IsOpen() {
		s.ns.Close()
	}
}

// ApplyActive installs exactly the store's running machines and records
// each as installed.
func (s *Session) ApplyActive() error {
	ms, err := s.Store.Active()
	if err != nil {
		return err
	}
	if err := s.Applier.Apply(ms); err != nil {
		return err
	}
	return s.Store.MarkAllUp(ms)
}

// Restore re-installs the running machines after a firewall reload (see
// the function Restore).
func (s *Session) Restore() error { return Restore(s.Applier, s.Store) }

// Show returns the text of nspawnctl's installed objects and its line diff
// against the store's desired state ("" when they agree).
func (s *Session) Show() (installed, diff string, err error) {
	ms, err := s.Store.Active()
	if err != nil {
		return "", "", err
	}
	want, err := Plan(ms)
	if err != nil {
		return "", "", err
	}
	have, err := s.Applier.Installed()
	if err != nil {
		return "", "", err
	}
	return have.OwnText(), linediff.Unordered(have.OwnText(), want.OwnText()), nil
}

// Check refuses the start of the stored machine name if its forwards
// conflict with what is installed; it changes nothing.
func (s *Session) Check(name string) error {
	m, err := s.Store.Load(name)
	if err != nil {
		return err
	}
	return s.Applier.CheckMachine(m)
}

// Up marks the stored machine name running and installs its objects.
func (s *Session) Up(name string) error {
	m, err := s.Store.Load(name)
	if err != nil {
		return err
	}
	return s.up(m)
}

// up replaces what the marker says was installed of m (so that only m's
// elements are looked up, see ReplaceMachine) and records m as installed.
func (s *Session) up(m Machine) error {
	if err := s.Applier.ReplaceMachine(s.Store.InstalledDef(m.Name), m); err != nil {
		return err
	}
	return s.Store.MarkUp(m)
}

// Down removes the machine's objects and marks it stopped, keeping its
// definition.
func (s *Session) Down(name string) error {
	// The marker goes first: even if the kernel refuses, a later restore
	// must not bring a stopped machine back. Without a marker, what is
	// installed is unknown (say, nat up was killed before it wrote one):
	// read everything.
	var installed *Machine
	if s.Store.IsUp(name) {
		installed = s.Store.InstalledDef(name)
	}
	if err := s.Store.SetUp(name, false); err != nil {
		return err
	}
	return s.Applier.ReplaceMachine(installed, Machine{Name: name})
}

// Refresh re-installs a running machine's objects from the store after its
// definition changed (apply, rollback), or removes them when it has no
// definition any more. A machine that is not up is left alone.
func (s *Session) Refresh(name string) error {
	if !s.Store.IsUp(name) {
		return nil
	}
	m, err := s.Store.Load(name)
	if err != nil {
		m = Machine{Name: name}
	}
	return s.up(m)
}
