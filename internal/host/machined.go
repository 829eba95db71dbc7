package host

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"

	"github.com/godbus/dbus/v5"
)

// MachineInfo is what machined knows about a running machine.
type MachineInfo struct {
	Name    string
	Class   string // container, vm or host
	Service string
	Unit    string
	State   string // opening, running or closing
	Leader  uint32 // PID of the container's init
	// Ifindices are the host-side interfaces nspawn registered (ve-/vb- or the bridge).
	Ifindices []int32
}

// Machines is what nspawnctl needs of systemd-machined.
type Machines interface {
	// List returns registered machines (without the host itself), sorted by name.
	List(ctx context.Context) ([]MachineInfo, error)
	// Info returns one machine; ErrNoMachine when machined does not know it.
	Info(ctx context.Context, name string) (MachineInfo, error)
	// Addresses returns the container's addresses, as GetMachineAddresses does.
	Addresses(ctx context.Context, name string) ([]netip.Addr, error)
	// OpenShell starts a shell or command on a new PTY in the container and
	// returns the PTY's master side.
	OpenShell(ctx context.Context, name, user, path string, args, env []string) (*os.File, error)
	// Terminate kills the machine.
	Terminate(ctx context.Context, name string) error
}

// ErrNoMachine is returned (wrapped) for a machine machined does not know.
var ErrNoMachine = errors.New("no such machine")

const (
	machinedName = "org.freedesktop.machine1"
	machinedPath = "/org/freedesktop/machine1"
	machinedMgr  = "org.freedesktop.machine1.Manager"
	machinedObj  = "org.freedesktop.machine1.Machine"
)

// Machined implements Machines over machined's D-Bus API with godbus. It
// calls GetMachineAddresses itself: go-systemd's wrapper type-asserts the
// reply to an object path and always fails.
type Machined struct{ bus *Bus }

// NewMachined returns systemd-machined on bus.
func NewMachined(bus *Bus) *Machined { return &Machined{bus: bus} }

// obj returns machined's object at path on the live connection.
func (m *Machined) obj(ctx context.Context, path dbus.ObjectPath) (dbus.BusObject, error) {
	c, err := m.bus.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("systemd-machined: %w", err)
	}
	return c.Object(machinedName, path), nil
}

// call calls method of machined's manager object.
func (m *Machined) call(ctx context.Context, method string, args ...any) *dbus.Call {
	o, err := m.obj(ctx, machinedPath)
	if err != nil {
		return &dbus.Call{Err: err}
	}
	return o.CallWithContext(ctx, machinedMgr+"."+method, 0, args...)
}

func mapNoMachine(name string, err error) error {
	var de dbus.Error
	if errors.As(err, &de) && strings.HasSuffix(de.Name, ".NoSuchMachine") {
		return fmt.Errorf("machine %s: %w", name, ErrNoMachine)
	}
	return err
}

// List implements Machines.
func (m *Machined) List(ctx context.Context) ([]MachineInfo, error) {
	var raw []struct {
		Name, Class, Service string
		Path                 dbus.ObjectPath
	}
	if err := m.call(ctx, "ListMachines").Store(&raw); err != nil {
		return nil, fmt.Errorf("listing machines from systemd-machined: %w", err)
	}
	var out []MachineInfo
	for _, r := range raw {
		if r.Class == "host" {
			continue
		}
		info, err := m.Info(ctx, r.Name)
		if err != nil {
			if errors.Is(err, ErrNoMachine) {
				continue // it went away between the two calls
			}
			return nil, err
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Info implements Machines.
func (m *Machined) Info(ctx context.Context, name string) (MachineInfo, error) {
	var path dbus.ObjectPath
	if err := m.call(ctx, "GetMachine", name).Store(&path); err != nil {
		return MachineInfo{}, mapNoMachine(name, err)
	}
	var props map[string]dbus.Variant
	obj, err := m.obj(ctx, path)
	if err != nil {
		return MachineInfo{}, err
	}
	if err := obj.CallWithContext(ctx, "org.freedesktop.DBus.Properties.GetAll", 0, machinedObj).Store(&props); err != nil {
		return MachineInfo{}, mapNoMachine(name, err)
	}
	info := MachineInfo{Name: name}
	str := func(k string) string { s, _ := props[k].Value().(string); return s }
	info.Class, info.Service, info.Unit, info.State = str("Class"), str("Service"), str("Unit"), str("State")
	info.Leader, _ = props["Leader"].Value().(uint32)
	info.Ifindices, _ = props["NetworkInterfaces"].Value().([]int32)
	return info, nil
}

// Addresses implements Machines.
func (m *Machined) Addresses(ctx context.Context, name string) ([]netip.Addr, error) {
	var raw []struct {
		Family int32
		Addr   []byte
	}
	if err := m.call(ctx, "GetMachineAddresses", name).Store(&raw); err != nil {
		return nil, mapNoMachine(name, fmt.Errorf("reading the addresses of machine %s: %w", name, err))
	}
	var out []netip.Addr
	for _, r := range raw {
		if a, ok := netip.AddrFromSlice(r.Addr); ok {
			out = append(out, a.Unmap())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out, nil
}

// OpenShell implements Machines.
func (m *Machined) OpenShell(ctx context.Context, name, user, path string, args, env []string) (*os.File, error) {
	if args == nil {
		args = []string{}
	}
	if env == nil {
		env = []string{}
	}
	var fd dbus.UnixFD
	var ptyPath string
	err := m.call(ctx, "OpenMachineShell", name, user, path, args, env).Store(&fd, &ptyPath)
	if err != nil {
		return nil, mapNoMachine(name, fmt.Errorf("opening a shell in machine %s: %w (the container must run systemd and D-Bus)", name, err))
	}
	return os.NewFile(uintptr(fd), ptyPath), nil
}

// Terminate implements Machines.
func (m *Machined) Terminate(ctx context.Context, name string) error {
	if err := m.call(ctx, "TerminateMachine", name).Err; err != nil {
		return mapNoMachine(name, fmt.Errorf("terminating machine %s: %w", name, err))
	}
	return nil
}

// Networkd is what nspawnctl needs of systemd-networkd.
type Networkd interface {
	// Reload makes networkd re-read .network and .netdev files and apply them.
	Reload(ctx context.Context) error
}

// NetworkdBus implements Networkd over D-Bus.
type NetworkdBus struct{ bus *Bus }

// NewNetworkdBus returns systemd-networkd on bus.
func NewNetworkdBus(bus *Bus) *NetworkdBus { return &NetworkdBus{bus: bus} }

// Reload implements Networkd.
func (n *NetworkdBus) Reload(ctx context.Context) error {
	c, err := n.bus.Conn(ctx)
	if err != nil {
		return fmt.Errorf("reloading systemd-networkd: %w", err)
	}
	obj := c.Object(networkdName, networkdPath)
	if err := obj.CallWithContext(ctx, networkdName+".Manager.Reload", 0).Err; err != nil {
		return fmt.Errorf("reloading systemd-networkd: %w (is systemd-networkd running? systemctl enable --now systemd-networkd)", err)
	}
	return nil
}
