package resolve_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/internal/unitfile"
	"github.com/nspawnctl/nspawnctl/machine/config"
	"github.com/nspawnctl/nspawnctl/machine/resolve"
	"github.com/nspawnctl/nspawnctl/networkd"
)

// TestResolvedSettings: the resolved model carries every setting parsed and
// with its default, so that rendering and the lifecycle read nothing of the
// configuration (and have nothing left to parse, default or fail on).
func TestResolvedSettings(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		check     func(t *testing.T, r *resolve.Resolved)
	}{
		{"machine without settings gets the defaults", `machine "plain" {}`, func(t *testing.T, r *resolve.Resolved) {
			m := r.Machine("plain")
			if m.RootKind != resolve.RootDirectory || m.Exec.PrivateUsers != "no" || m.Unit.Activation != "" || m.Unit.Activation.InEffect() != resolve.ActivateAuto {
				t.Errorf("root %q, private users %q, activation %q (in effect %q); want directory, no, unset, auto", m.RootKind, m.Exec.PrivateUsers, m.Unit.Activation, m.Unit.Activation.InEffect())
			}
			if m.Mode != networkd.ModeVeth || m.HostSide.Masquerade != networkd.MasqueradeBoth || !m.HostSide.DHCPServer {
				t.Errorf("mode %q, host side %+v; want veth, masquerade both, DHCP server on", m.Mode, m.HostSide)
			}
			if cs := m.ContainerSide; cs.DHCP != "no" || !cs.LLMNR || cs.MDNS {
				t.Errorf("container side %+v; want DHCP no (addresses allocated), LLMNR on, mDNS off", cs)
			}
		}},
		{"host side parsed", `machine "web" {
  network {
    host {
      masquerade  = "ipv4"
      dhcp_server = false
      ipv6_prefix {
        prefix = "2001:db8:1::/64"
        assign = true
      }
      ipv6_prefix { prefix = "2001:db8:2::/64" }
      prefix_delegation { subnet_id = "0x2" }
      proxy_ndp = ["eth0"]
      extra = { Network = { IPv6DuplicateAddressDetection = "0" } }
    }
    container { address = ["2001:db8:3::10/128"] }
  }
}`, func(t *testing.T, r *resolve.Resolved) {
			hs := r.Machine("web").HostSide
			if hs.Masquerade != networkd.MasqueradeIPv4 || hs.DHCPServer {
				t.Errorf("masquerade %q, DHCP server %v; want ipv4, off", hs.Masquerade, hs.DHCPServer)
			}
			if want := []netip.Prefix{netip.MustParsePrefix("2001:db8:1::/64")}; !slices.Equal(hs.Assign, want) {
				t.Errorf("assign %v, want %v", hs.Assign, want)
			}
			if want := []netip.Prefix{netip.MustParsePrefix("2001:db8:2::/64")}; !slices.Equal(hs.Announce, want) {
				t.Errorf("announce %v, want %v", hs.Announce, want)
			}
			if hs.PrefixDelegation == nil || *hs.PrefixDelegation != (networkd.PrefixDelegation{SubnetID: "0x2"}) {
				t.Errorf("prefix delegation %+v, want subnet 0x2 on the default uplink", hs.PrefixDelegation)
			}
			if !slices.Equal(hs.ProxyNDP, []string{"eth0"}) {
				t.Errorf("proxy NDP %v, want [eth0]", hs.ProxyNDP)
			}
			if want := []unitfile.Option{{Section: "Network", Name: "IPv6DuplicateAddressDetection", Value: "0"}}; !slices.Equal(hs.Extra, want) {
				t.Errorf("extra %v, want %v", hs.Extra, want)
			}
		}},
		{"zone settings are defaulted and inherited by members", `zone "lab" {
  mdns = true
}
zone "quiet" {
  masquerade = "no"
  llmnr      = false
}
machine "a" {
  network { zone = "lab" }
}
machine "b" {
  network {
    zone = "quiet"
    container { llmnr = true }
  }
}`, func(t *testing.T, r *resolve.Resolved) {
			lab, quiet := r.Zones[0], r.Zones[1]
			if !lab.DHCPServer || !lab.LLMNR || !lab.MDNS || lab.Masquerade != networkd.MasqueradeBoth {
				t.Errorf("zone lab %+v; want DHCP server, LLMNR and mDNS on, masquerade both", lab)
			}
			if quiet.LLMNR || quiet.Masquerade != networkd.MasqueradeNo {
				t.Errorf("zone quiet %+v; want LLMNR off, masquerade no", quiet)
			}
			if cs := r.Machine("a").ContainerSide; !cs.LLMNR || !cs.MDNS || cs.DHCP != "no" {
				t.Errorf("member a %+v; want the zone's LLMNR and mDNS, DHCP no (address allocated)", cs)
			}
			if cs := r.Machine("b").ContainerSide; !cs.LLMNR || cs.MDNS {
				t.Errorf("member b %+v; want its own LLMNR on over the zone's, mDNS off", cs)
			}
		}},
		{"bridge defaults and a member that asks DHCP", `bridge "br-lan" {
  uplink       = "eth0"
  netdev_extra = { Bridge = { STP = "yes" } }
}
machine "c" {
  network { bridge = "br-lan" }
}`, func(t *testing.T, r *resolve.Resolved) {
			b := r.Bridges[0]
			if b.Masquerade != networkd.MasqueradeNo || b.DHCPServer || b.Uplink != "eth0" || len(b.NetdevExtra) != 1 {
				t.Errorf("bridge %+v; want masquerade no, no DHCP server, uplink eth0, one netdev option", b)
			}
			if m := r.Machine("c"); m.ContainerSide.DHCP != "yes" || m.HostSide.Masquerade != "" {
				t.Errorf("member %+v; want DHCP yes (no address), no veth host side", m)
			}
		}},
		{"root sources, exec and unit settings", `machine "boot" {
  root {
    bootstrap { packages = ["curl"] }
  }
  private_users = "pick"
  activation    = "reload"
  autostart     = true
  limits {
    tasks_max = 64
    nofile    = 4096
  }
}
machine "tar" {
  root { tarball = "/srv/root.tar.zst" }
}`, func(t *testing.T, r *resolve.Resolved) {
			m := r.Machine("boot")
			if m.RootKind != resolve.RootBootstrap || m.Root.Bootstrap == nil {
				t.Fatalf("root %q %+v; want a bootstrap", m.RootKind, m.Root)
			}
			if b := *m.Root.Bootstrap; b.Suite != "bookworm" || b.Variant != "minbase" || !slices.Equal(b.Packages, []string{"curl"}) {
				t.Errorf("bootstrap %+v; want bookworm, minbase, curl", b)
			}
			if m.Exec.PrivateUsers != "pick" || m.Exec.LimitNOFILE != 4096 || m.Unit.TasksMax != 64 || !m.Unit.Autostart || m.Unit.Activation != resolve.ActivateReload {
				t.Errorf("exec %+v, unit %+v; want pick, 4096 files, 64 tasks, autostart, reload", m.Exec, m.Unit)
			}
			if m := r.Machine("tar"); m.RootKind != resolve.RootTarball || m.Root.Tarball != "/srv/root.tar.zst" || !m.RootKind.Creates() {
				t.Errorf("root %q %+v; want the tarball, which nspawnctl creates the root from", m.RootKind, m.Root)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, diags := loadAndValidate([]string{writeConfig(t, tc.src)})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			tc.check(t, r)
		})
	}
}

// TestValidateLeavesConfigAlone: the forward of a sidecar's listen port is
// the validator's own addition, not written into the decoded configuration,
// so validating one configuration twice gives the same forwards.
func TestValidateLeavesConfigAlone(t *testing.T) {
	body := strings.NewReplacer("NAME", "m", "MODE", "veth", "NET", "", "EXTRA", "", "NEBULA", "listen_port = 4243").Replace(traversalMachine)
	cfg, diags := config.NewParser().Load([]string{writeConfig(t, body)})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var runs [][]string
	for range 2 {
		r, diags := resolve.Validate(cfg, testFacts)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		runs = append(runs, forwardsOf(r, "m"))
	}
	if len(cfg.Machines[0].Forwards) != 0 {
		t.Errorf("the configuration has forward_port blocks %+v after validation; want none, as written", cfg.Machines[0].Forwards)
	}
	if len(runs[0]) == 0 || !slices.Equal(runs[0], runs[1]) {
		t.Errorf("forwards of two validations %v and %v; want the listen port's, the same both times", runs[0], runs[1])
	}
}
