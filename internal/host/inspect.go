package host

import (
	"context"
	"fmt"

	sd "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// UnitStatus is what systemd reports of one unit: its states and the files
// it was loaded from.
type UnitStatus struct {
	// LoadState is "loaded", "not-found", "masked", ...
	LoadState string
	// ActiveState is "active", "inactive", "failed", ...
	ActiveState string
	// UnitFileState is "enabled", "disabled", "static", "masked", ... or empty.
	UnitFileState string
	// FragmentPath is the unit file systemd loaded, DropInPaths its drop-ins.
	FragmentPath string
	DropInPaths  []string
}

// SystemdStatus reads what systemd reports of itself and of its units, on
// the shared Bus, for nspawnctl doctor. Unlike SystemdUnits it changes
// nothing and subscribes to no signals, so that it needs no privileges
// beyond reading properties.
type SystemdStatus struct{ bus *Bus }

// NewSystemdStatus returns systemd's read-only view on bus.
func NewSystemdStatus(bus *Bus) *SystemdStatus { return &SystemdStatus{bus: bus} }

const (
	systemdName  = "org.freedesktop.systemd1"
	systemdPath  = "/org/freedesktop/systemd1"
	networkdName = "org.freedesktop.network1"
	networkdPath = "/org/freedesktop/network1"
)

// Unit returns the status of unit. A unit systemd has no file for is not an
// error: its LoadState says "not-found". An error means systemd could not be
// asked.
func (s *SystemdStatus) Unit(ctx context.Context, unit string) (UnitStatus, error) {
	c, err := s.bus.Conn(ctx)
	if err != nil {
		return UnitStatus{}, fmt.Errorf("read the properties of %s: %w", unit, err)
	}
	// systemd's object path of a unit is its escaped name; asking it loads
	// the unit (or reports it not found) without a separate LoadUnit call.
	path := dbus.ObjectPath(systemdPath + "/unit/" + sd.PathBusEscape(unit))
	var props map[string]dbus.Variant
	err = c.Object(systemdName, path).CallWithContext(ctx, "org.freedesktop.DBus.Properties.GetAll", 0, systemdName+".Unit").Store(&props)
	if err != nil {
		return UnitStatus{}, fmt.Errorf("read the properties of %s: %w", unit, err)
	}
	str := func(k string) string { v, _ := props[k].Value().(string); return v }
	u := UnitStatus{LoadState: str("LoadState"), ActiveState: str("ActiveState"), UnitFileState: str("UnitFileState"), FragmentPath: str("FragmentPath")}
	u.DropInPaths, _ = props["DropInPaths"].Value().([]string)
	return u, nil
}

// Version returns systemd's version string (the Manager's Version
// property), e.g. "252.39-1~deb12u1".
func (s *SystemdStatus) Version(ctx context.Context) (string, error) {
	c, err := s.bus.Conn(ctx)
	if err != nil {
		return "", fmt.Errorf("reading systemd's version: %w", err)
	}
	var v dbus.Variant
	err = c.Object(systemdName, systemdPath).CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0, systemdName+".Manager", "Version").Store(&v)
	if err != nil {
		return "", fmt.Errorf("reading systemd's version: %w", err)
	}
	ver, ok := v.Value().(string)
	if !ok {
		return "", fmt.Errorf("reading systemd's version: the Version property is %s, not a string", v.Signature())
	}
	return ver, nil
}

// NetworkdLink is systemd-networkd's view of one link.
type NetworkdLink struct {
	Index int
	Name  string
	// AdministrativeState is networkd's setup state ("configured",
	// "unmanaged", ...), OperationalState its operational state
	// ("routable", "carrier", ...); empty when networkd did not say.
	AdministrativeState string
	OperationalState    string
}

// Links lists the links networkd knows with their states, in networkd's
// order. A link that goes away while its states are read keeps empty
// states rather than failing the list.
func (n *NetworkdBus) Links(ctx context.Context) ([]NetworkdLink, error) {
	c, err := n.bus.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing systemd-networkd's links: %w", err)
	}
	var raw []struct {
		Index int32
		Name  string
		Path  dbus.ObjectPath
	}
	if err := c.Object(networkdName, networkdPath).CallWithContext(ctx, networkdName+".Manager.ListLinks", 0).Store(&raw); err != nil {
		return nil, fmt.Errorf("listing systemd-networkd's links: %w (is systemd-networkd running?)", err)
	}
	out := make([]NetworkdLink, 0, len(raw))
	for _, r := range raw {
		l := NetworkdLink{Index: int(r.Index), Name: r.Name}
		obj := c.Object(networkdName, r.Path)
		for prop, dst := range map[string]*string{"AdministrativeState": &l.AdministrativeState, "OperationalState": &l.OperationalState} {
			var v dbus.Variant
			if obj.CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0, networkdName+".Link", prop).Store(&v) == nil {
				*dst, _ = v.Value().(string)
			}
		}
		out = append(out, l)
	}
	return out, nil
}
