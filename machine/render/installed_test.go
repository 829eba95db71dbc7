package render_test

import (
	"net/netip"
	"path"
	"slices"
	"testing"

	"github.com/nspawnctl/nspawnctl/machine/render"
	"github.com/nspawnctl/nspawnctl/machine/resolve"
	"github.com/nspawnctl/nspawnctl/nat"
	"github.com/nspawnctl/nspawnctl/networkd"
	"github.com/nspawnctl/nspawnctl/networkd/renumber"
)

// TestMachineArtifactsShared: besides a machine's own files, what create
// installs for it depends on the model and on the systemd version alone:
// the NAT restore unit (it masquerades), the renumbering unit (its link
// takes a delegated prefix) and, from systemd 256 on, the IPv6 forwarding
// drop-in (its masquerade leaves IPv6 out).
func TestMachineArtifactsShared(t *testing.T) {
	pfx := netip.MustParsePrefix
	m := &resolve.ResolvedMachine{
		Name: "pd", RootDir: "/var/lib/machines/pd", RootKind: resolve.RootDirectory, Boot: true,
		Mode: networkd.ModeVeth, HostLink: "ve-pd", NATLink: "ve-pd",
		HostAddrs: []netip.Prefix{pfx("10.0.0.1/28")}, ContainerAddrs: []netip.Prefix{pfx("10.0.0.2/28")},
		HostSide: resolve.HostSide{Masquerade: networkd.MasqueradeIPv4, DHCPServer: true,
			PrefixDelegation: &networkd.PrefixDelegation{Uplink: "eth0"}},
	}
	r := &resolve.Resolved{UnitDir: resolve.DefaultUnitDir, MachinesDir: resolve.DefaultMachinesDir, Machines: []*resolve.ResolvedMachine{m}}
	shared := []string{
		path.Join(resolve.DefaultUnitDir, nat.RestoreUnitName),
		path.Join(resolve.DefaultUnitDir, "multi-user.target.wants", nat.RestoreUnitName),
		path.Join(resolve.DefaultUnitDir, renumber.UnitTemplate),
	}
	forwarding := networkd.ForwardingDropInPath(networkd.IPv6)
	for _, tc := range []struct {
		systemd        int
		wantForwarding bool
	}{{0, false}, {252, false}, {networkd.GlobalForwardingSince, true}, {262, true}} {
		arts, err := render.MachineArtifacts(r, m, render.RenderOptions{SystemdVersion: tc.systemd})
		if err != nil {
			t.Fatal(err)
		}
		var paths []string
		for _, a := range arts {
			paths = append(paths, a.Path)
			if a.Owner != "machine/pd" {
				t.Errorf("systemd %d: %s is owned by %q, want machine/pd", tc.systemd, a.Path, a.Owner)
			}
		}
		for _, p := range shared {
			if !slices.Contains(paths, p) {
				t.Errorf("systemd %d: no %s among %v", tc.systemd, p, paths)
			}
		}
		if got := slices.Contains(paths, forwarding); got != tc.wantForwarding {
			t.Errorf("systemd %d: forwarding drop-in %s rendered: %v, want %v", tc.systemd, forwarding, got, tc.wantForwarding)
		}
	}
	// Masquerading both families needs no drop-in on any version, and no
	// delegation no renumbering unit.
	m.HostSide.Masquerade, m.HostSide.PrefixDelegation = networkd.MasqueradeBoth, nil
	arts, err := render.MachineArtifacts(r, m, render.RenderOptions{SystemdVersion: 262})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range arts {
		if a.Path == forwarding || a.Path == path.Join(resolve.DefaultUnitDir, renumber.UnitTemplate) {
			t.Errorf("masquerade both, no delegation: %s rendered", a.Path)
		}
	}
}
