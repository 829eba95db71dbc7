// Package hostfake holds in-memory stand-ins for internal/host's adapters
// (Units, Machines, Networkd), beside the interfaces they fake, so tests of
// the packages above share one copy that changes with the interface.
package hostfake

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"sort"

	"github.com/nspawnctl/nspawnctl/internal/host"
)

// Units records what is asked of systemd and keeps each unit's ActiveState:
// Start makes a unit active, Stop inactive; unknown units are inactive.
type Units struct {
	// Calls lists the calls in order: "start U", "stop U", "daemon-reload".
	Calls []string
	// ReloadErr is what Reload returns (after recording the call).
	ReloadErr error
	// State maps unit names to their ActiveState; nil is allocated on use.
	State map[string]string
}

var _ host.Units = (*Units)(nil)

// NewUnits returns Units with no unit active.
func NewUnits() *Units { return &Units{State: map[string]string{}} }

func (f *Units) set(u, s string) {
	if f.State == nil {
		f.State = map[string]string{}
	}
	f.State[u] = s
}

// Start implements host.Units.
func (f *Units) Start(_ context.Context, u string) error {
	f.Calls = append(f.Calls, "start "+u)
	f.set(u, "active")
	return nil
}

// Stop implements host.Units.
func (f *Units) Stop(_ context.Context, u string) error {
	f.Calls = append(f.Calls, "stop "+u)
	f.set(u, "inactive")
	return nil
}

// Reload implements host.Units.
func (f *Units) Reload(context.Context) error {
	f.Calls = append(f.Calls, "daemon-reload")
	return f.ReloadErr
}

// ResetFailed implements host.Units; a fake unit never stays failed.
func (f *Units) ResetFailed(context.Context, string) error { return nil }

// ActiveState implements host.Units.
func (f *Units) ActiveState(_ context.Context, u string) (string, error) {
	if s, ok := f.State[u]; ok {
		return s, nil
	}
	return "inactive", nil
}

// Networkd counts reloads.
type Networkd struct{ Reloads int }

var _ host.Networkd = (*Networkd)(nil)

// Reload implements host.Networkd.
func (f *Networkd) Reload(context.Context) error { f.Reloads++; return nil }

// Machines is machined with the machines in Registered; Terminate removes
// one and records its name. The zero value knows no machines.
type Machines struct {
	// Registered maps machine names to what machined reports of them.
	Registered map[string]host.MachineInfo
	// Addrs maps machine names to their addresses.
	Addrs map[string][]netip.Addr
	// Terminated lists the machines Terminate was called for, in order.
	Terminated []string
}

var _ host.Machines = (*Machines)(nil)

func noMachine(name string) error { return fmt.Errorf("machine %s: %w", name, host.ErrNoMachine) }

// List implements host.Machines.
func (f *Machines) List(context.Context) ([]host.MachineInfo, error) {
	var out []host.MachineInfo
	for _, m := range f.Registered {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Info implements host.Machines.
func (f *Machines) Info(_ context.Context, name string) (host.MachineInfo, error) {
	m, ok := f.Registered[name]
	if !ok {
		return host.MachineInfo{}, noMachine(name)
	}
	return m, nil
}

// Addresses implements host.Machines.
func (f *Machines) Addresses(_ context.Context, name string) ([]netip.Addr, error) {
	if _, ok := f.Registered[name]; !ok {
		return nil, noMachine(name)
	}
	return f.Addrs[name], nil
}

// OpenShell implements host.Machines; the fake has no PTYs to give.
func (f *Machines) OpenShell(_ context.Context, name, _, _ string, _, _ []string) (*os.File, error) {
	if _, ok := f.Registered[name]; !ok {
		return nil, noMachine(name)
	}
	return nil, fmt.Errorf("opening a shell in machine %s: the fake machined has no PTYs", name)
}

// Terminate implements host.Machines.
func (f *Machines) Terminate(_ context.Context, name string) error {
	if _, ok := f.Registered[name]; !ok {
		return noMachine(name)
	}
	delete(f.Registered, name)
	f.Terminated = append(f.Terminated, name)
	return nil
}
