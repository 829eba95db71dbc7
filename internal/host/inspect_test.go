package host

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"
)

// fakeNetworkdLinks is networkd's manager with two links; the second has no
// object, as when the link went away between the list and the reads.
type fakeNetworkdLinks struct{}

type linkEntry struct {
	Index int32
	Name  string
	Path  dbus.ObjectPath
}

func (fakeNetworkdLinks) ListLinks() ([]linkEntry, *dbus.Error) {
	return []linkEntry{
		{Index: 1, Name: "lo", Path: "/org/freedesktop/network1/link/_31"},
		{Index: 7, Name: "ve-gone", Path: "/org/freedesktop/network1/link/_37"},
	}, nil
}

// serveStatusFakes plays systemd's properties (the manager's Version and
// the unit systemd-networkd.service at its escaped path) and networkd's
// link list on a private bus.
func serveStatusFakes(t *testing.T, addr string) {
	t.Helper()
	c, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	props := func(path dbus.ObjectPath, iface string, values map[string]any) {
		m := map[string]*prop.Prop{}
		for k, v := range values {
			m[k] = &prop.Prop{Value: v, Emit: prop.EmitFalse}
		}
		if _, err := prop.Export(c, path, prop.Map{iface: m}); err != nil {
			t.Fatal(err)
		}
	}
	props(systemdPath, systemdName+".Manager", map[string]any{"Version": "257.9-1~deb13u1"})
	props(systemdPath+"/unit/systemd_2dnetworkd_2eservice", systemdName+".Unit", map[string]any{
		"LoadState": "loaded", "ActiveState": "active", "UnitFileState": "enabled",
		"FragmentPath": "/lib/systemd/system/systemd-networkd.service",
		"DropInPaths":  []string{"/etc/systemd/system/systemd-networkd.service.d/override.conf"},
	})
	if err := c.Export(fakeNetworkdLinks{}, networkdPath, networkdName+".Manager"); err != nil {
		t.Fatal(err)
	}
	props("/org/freedesktop/network1/link/_31", networkdName+".Link", map[string]any{"AdministrativeState": "unmanaged", "OperationalState": "carrier"})
	for _, name := range []string{systemdName, networkdName} {
		if r, err := c.RequestName(name, dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
			t.Fatalf("owning %s on the private bus: %v %v", name, r, err)
		}
	}
}

// doctor's reads of systemd and networkd go over the one Bus: a unit's
// states and files, systemd's version and networkd's links, with one dial.
func TestStatusReadsShareTheBus(t *testing.T) {
	addr := privateBus(t)
	serveStatusFakes(t, addr)
	dials := &atomic.Int32{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bus, err := NewBus(ctx, func(ctx context.Context) (*dbus.Conn, error) {
		dials.Add(1)
		return dbus.Connect(addr, dbus.WithContext(ctx))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()

	st := NewSystemdStatus(bus)
	u, err := st.Unit(ctx, "systemd-networkd.service")
	if err != nil {
		t.Fatal(err)
	}
	want := UnitStatus{LoadState: "loaded", ActiveState: "active", UnitFileState: "enabled",
		FragmentPath: "/lib/systemd/system/systemd-networkd.service",
		DropInPaths:  []string{"/etc/systemd/system/systemd-networkd.service.d/override.conf"}}
	if u.LoadState != want.LoadState || u.ActiveState != want.ActiveState || u.UnitFileState != want.UnitFileState ||
		u.FragmentPath != want.FragmentPath || !slices.Equal(u.DropInPaths, want.DropInPaths) {
		t.Errorf("Unit = %+v, want %+v", u, want)
	}
	if _, err := st.Unit(ctx, "nftables.service"); err == nil {
		t.Error("Unit of a unit the fake has no object for succeeded")
	}
	if v, err := st.Version(ctx); err != nil || v != "257.9-1~deb13u1" {
		t.Errorf("Version = %q, %v", v, err)
	}
	links, err := NewNetworkdBus(bus).Links(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantLinks := []NetworkdLink{{Index: 1, Name: "lo", AdministrativeState: "unmanaged", OperationalState: "carrier"}, {Index: 7, Name: "ve-gone"}}
	if !slices.Equal(links, wantLinks) {
		t.Errorf("Links = %+v, want %+v", links, wantLinks)
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("the reads dialled the bus %d times, want 1", n)
	}
}
