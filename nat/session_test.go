package nat

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nspawnctl/nspawnctl/internal/filelock"
)

// The definition errors of nat are MachineErrors, which the CLI turns into
// exit code 3; a refusal of the kernel is not.
func TestMachineErrorClassification(t *testing.T) {
	web := Machine{Name: "web", Link: "ve-web", Forwards: []Forward{{Protocol: "tcp", HostPorts: port(8080), Target: a4("10.0.0.2"), TargetPorts: port(80)}}}
	clash := Machine{Name: "clash", Link: "ve-clash", Forwards: []Forward{{Protocol: "tcp", HostPorts: port(8080), Target: a4("10.0.0.3"), TargetPorts: port(80)}}}
	_, err := Plan([]Machine{web, clash})
	var me *MachineError
	if !errors.As(err, &me) || me.Machine == "" {
		t.Errorf("Plan of a port collision: err = %v (%T), want a MachineError naming a machine", err, err)
	}
	if _, err := Plan([]Machine{web, web}); !IsMachineError(err) {
		t.Errorf("Plan of a machine given twice: err = %v, want a MachineError", err)
	}
	if err := (Machine{Name: "bad/name"}).Validate(); !IsMachineError(err) {
		t.Errorf("Validate of an invalid name: err = %v, want a MachineError", err)
	}
	joined := machineErrors{machineErrorf("a", "machine %q: one", "a"), machineErrorf("b", "machine %q: two", "b")}
	if got, want := joined.Error(), `machine "a": one; machine "b": two`; got != want {
		t.Errorf("joined message %q, want %q", got, want)
	}
	if !errors.As(error(joined), &me) || me.Machine != "a" {
		t.Errorf("errors.As on joined errors found %+v, want machine a", me)
	}
	if _, err := NewStore(t.TempDir()).Load("nope"); !IsMachineError(err) || !errors.Is(err, ErrNotFound) {
		t.Errorf("Load of an unknown machine: err = %v, want a MachineError wrapping ErrNotFound", err)
	}
	if IsMachineError(errors.New("apply ip io.systemd.nat: operation not permitted")) {
		t.Error("a plain error counts as a MachineError")
	}
}

// A Session carries out the hooks' steps against a real kernel: up installs
// a stored machine and marks it, refresh follows a changed definition, down
// removes it and keeps the definition, check refuses a conflict.
func TestSessionUpRefreshDown(t *testing.T) {
	requireKernel(t)
	ns := newNS(t)
	dir := t.TempDir()
	s, err := Open(dir, nsPath(ns), lockWait, func(f string, a ...any) { t.Logf("warning: "+f, a...) })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	installed := func() []string {
		t.Helper()
		rs, err := s.Applier.Installed()
		if err != nil {
			t.Fatal(err)
		}
		return rs.Machines()
	}
	web := Machine{Name: "web", Link: "ve-web", Forwards: []Forward{{Protocol: "tcp", HostPorts: port(8080), Target: a4("10.0.0.2"), TargetPorts: port(80)}}}
	if err := s.Store.Save(web); err != nil {
		t.Fatal(err)
	}
	if err := s.Up("web"); err != nil {
		t.Fatal(err)
	}
	if got := installed(); !slices.Equal(got, []string{"web"}) || !s.Store.IsUp("web") {
		t.Fatalf("after up: installed %v, up %v; want web, true", got, s.Store.IsUp("web"))
	}
	if _, diff, err := s.Show(); err != nil || diff != "" {
		t.Errorf("show after up: diff %q, err %v; want none", diff, err)
	}

	web.Forwards[0].HostPorts = port(8081)
	if err := s.Store.Save(web); err != nil {
		t.Fatal(err)
	}
	if err := s.Refresh("web"); err != nil {
		t.Fatal(err)
	}
	if got := s.Store.InstalledDef("web"); got == nil || got.Forwards[0].HostPorts != port(8081) {
		t.Errorf("refresh did not record the new definition: %+v", got)
	}
	if _, diff, err := s.Show(); err != nil || diff != "" {
		t.Errorf("show after refresh: diff %q, err %v; want none", diff, err)
	}

	clash := Machine{Name: "clash", Link: "ve-clash", Forwards: []Forward{{Protocol: "tcp", HostPorts: port(8081), Target: a4("10.0.0.3"), TargetPorts: port(80)}}}
	if err := s.Store.Save(clash); err != nil {
		t.Fatal(err)
	}
	if err := s.Check("clash"); !IsMachineError(err) {
		t.Errorf("check of a machine whose port is taken: err = %v, want a MachineError", err)
	}
	if err := s.Up("ghost"); !errors.Is(err, ErrNotFound) || !IsMachineError(err) {
		t.Errorf("up of an undefined machine: err = %v, want a MachineError wrapping ErrNotFound", err)
	}

	if err := s.Down("web"); err != nil {
		t.Fatal(err)
	}
	if got := installed(); len(got) != 0 || s.Store.IsUp("web") {
		t.Errorf("after down: installed %v, up %v; want none, false", got, s.Store.IsUp("web"))
	}
	if _, err := s.Store.Load("web"); err != nil {
		t.Errorf("down dropped the definition: %v", err)
	}
	// A stopped machine is not brought back by a refresh.
	if err := s.Refresh("web"); err != nil || len(installed()) != 0 {
		t.Errorf("refresh of a stopped machine: err %v, installed %v; want nothing", err, installed())
	}
}

// A namespace file that does not exist is a NamespaceError, and Open
// leaves the lock free for the next one.
func TestOpenBadNamespace(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(dir, filepath.Join(dir, "missing"), lockWait, nil)
	var nse *NamespaceError
	if !errors.As(err, &nse) {
		t.Fatalf("Open with a missing namespace file: err = %v (%T), want a NamespaceError", err, err)
	}
	// The lock is free again for the next session.
	release, err := filelock.Acquire(filepath.Join(dir, "nat", "lock"), lockWait)
	if err != nil {
		t.Fatalf("lock after a failed Open: %v", err)
	}
	release()
}

const lockWait = 5 * time.Second // a test that waits longer has a leaked lock
