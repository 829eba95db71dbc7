package render_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/internal/unitfile"
	"github.com/nspawnctl/nspawnctl/machine/render"
	"github.com/nspawnctl/nspawnctl/machine/resolve"
	"github.com/nspawnctl/nspawnctl/networkd"
)

// TestRenderHandBuiltModel renders a resolved model built without any
// configuration: render reads only parsed values (prefixes, raw options,
// settings with their defaults), so there is nothing left for it to parse,
// to fail on and drop, or to panic on, and a bare model renders too.
func TestRenderHandBuiltModel(t *testing.T) {
	pfx := netip.MustParsePrefix
	r := &resolve.Resolved{UnitDir: resolve.DefaultUnitDir, MachinesDir: resolve.DefaultMachinesDir}
	r.Machines = []*resolve.ResolvedMachine{{
		Name: "web", RootDir: "/var/lib/machines/web", RootKind: resolve.RootDirectory, Boot: true,
		Exec: resolve.Exec{PrivateUsers: "no"},
		Mode: networkd.ModeVeth, HostLink: "ve-web", NATLink: "ve-web",
		HostAddrs: []netip.Prefix{pfx("10.0.0.1/28")},
		HostSide: resolve.HostSide{
			Masquerade: networkd.MasqueradeIPv4, DHCPServer: true,
			Assign: []netip.Prefix{pfx("2001:db8:1::/64")}, Announce: []netip.Prefix{pfx("2001:db8:2::/64")},
			Extra: []unitfile.Option{{Section: "Network", Name: "IPv6DuplicateAddressDetection", Value: "0"}},
		},
		ContainerAddrs: []netip.Prefix{pfx("10.0.0.2/28")},
		ContainerSide:  resolve.ContainerSide{DHCP: "no", LLMNR: true},
	}, {
		// Nothing but a name and a mode: every setting at its zero value.
		Name: "bare", RootDir: "/var/lib/machines/bare", Mode: networkd.ModeVeth, HostLink: "ve-bare",
	}}
	r.Zones = []*resolve.ResolvedZone{{Name: "lab", Link: "vz-lab", Masquerade: networkd.MasqueradeBoth,
		Extra: []unitfile.Option{{Section: "Network", Name: "IPv6PrivacyExtensions", Value: "yes"}}}}
	r.Bridges = []*resolve.ResolvedBridge{{Name: "br0", Masquerade: networkd.MasqueradeNo,
		NetdevExtra: []unitfile.Option{{Section: "Bridge", Name: "STP", Value: "yes"}}}}

	arts, err := render.Render(r, render.RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, a := range arts {
		files[a.Path] = string(a.Content)
	}
	for path, want := range map[string][]string{
		"/etc/systemd/network/20-ve-web.network": {
			"IPMasquerade=ipv4\nIPForward=yes\n",
			"[IPv6Prefix]\nPrefix=2001:db8:2::/64\n",
			"[IPv6Prefix]\nPrefix=2001:db8:1::/64\nAssign=yes\n",
			"IPv6DuplicateAddressDetection=0\n",
		},
		"/etc/systemd/network/20-vz-lab.network": {"IPMasquerade=both\n", "IPv6PrivacyExtensions=yes\n"},
		"/etc/systemd/network/20-br0.netdev":     {"[Bridge]\nSTP=yes\n"},
		"/etc/systemd/nspawn/bare.nspawn":        {"[Exec]\nBoot=no\n"},
	} {
		got, ok := files[path]
		if !ok {
			t.Errorf("no %s among the artefacts", path)
			continue
		}
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s lacks %q:\n%s", path, w, got)
			}
		}
	}
}
