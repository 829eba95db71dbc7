package doctor

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/machine/config"
	"github.com/nspawnctl/nspawnctl/machine/resolve"
)

// pdHost is a fake host that also reports delegated prefixes.
type pdHost struct {
	*fakeHost
	delegated []netip.Prefix
}

func (p pdHost) DelegatedPrefixes() ([]netip.Prefix, error) { return p.delegated, nil }

func pdConfig(t *testing.T, hcl string) *resolve.Resolved {
	t.Helper()
	f := filepath.Join(t.TempDir(), "pd.hcl")
	if err := os.WriteFile(f, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.NewParser().Load([]string{f})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var facts resolve.HostFacts
	r, diags := resolve.Validate(cfg, facts)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return r
}

const pdMachines = `
zone "lan" {
  prefix_delegation {
    uplink    = "eth0"
    subnet_id = "%s"
  }
}
machine "a" {
  root { directory = "/srv/a" }
  network {
    host {
      prefix_delegation {
        uplink    = "eth0"
        subnet_id = "0x2"
      }
    }
  }
}
machine "b" {
  root { directory = "/srv/b" }
  network { zone = "lan" }
}
`

func pdCheck(t *testing.T, zoneSubnet string, delegated ...string) Check {
	t.Helper()
	h := pdHost{fakeHost: healthyHost(t)}
	for _, d := range delegated {
		h.delegated = append(h.delegated, netip.MustParsePrefix(d))
	}
	cs := checkPrefixDelegation(h, pdConfig(t, strings.Replace(pdMachines, "%s", zoneSubnet, 1)))
	if len(cs) != 1 {
		t.Fatalf("checks %+v, want one", cs)
	}
	return cs[0]
}

func TestPrefixDelegationLargeEnough(t *testing.T) {
	c := pdCheck(t, "0x3", "2001:db8:f000:100::/56")
	if c.Status != StatusOK || !strings.Contains(c.Summary, "2001:db8:f000:100::/56") {
		t.Fatalf("%+v", c)
	}
	// The run includes it where a configuration asks for a delegation.
	r := Run(pdHost{fakeHost: healthyHost(t), delegated: []netip.Prefix{netip.MustParsePrefix("2001:db8::/48")}}, Options{Config: pdConfig(t, strings.Replace(pdMachines, "%s", "0x3", 1))})
	found := false
	for _, c := range r.Checks {
		found = found || c.ID == "prefix-delegation"
	}
	if !found {
		t.Errorf("Run has no prefix-delegation check: %+v", r.Checks)
	}
}

func TestPrefixDelegationMissing(t *testing.T) {
	c := pdCheck(t, "0x3")
	if c.Status != StatusFail || !strings.Contains(c.Summary, "eth0 holds no DHCPv6 prefix delegation") || !strings.Contains(c.Remedy, "PrefixDelegationHint=") {
		t.Fatalf("%+v", c)
	}
}

func TestPrefixDelegationTooSmall(t *testing.T) {
	for _, tc := range []struct {
		zone, delegated, want string
	}{
		{"0x3", "2001:db8:f000:100::/64", "is a single /64, shared by machine a, zone lan"},
		{"0x10", "2001:db8:f000:100::/60", "zone lan: subnet_id 0x10 does not fit 2001:db8:f000:100::/60, whose subnet ids go from 0x0 to 0xf"},
		{"0x2", "2001:db8:f000:100::/56", "machine a and zone lan both ask for subnet_id 0x2"},
		{"0x1", "2001:db8:f000:100::/63", "machine a: subnet_id 0x2 does not fit"},
	} {
		c := pdCheck(t, tc.zone, tc.delegated)
		if c.Status != StatusFail || !strings.Contains(c.Detail, tc.want) || c.Remedy == "" {
			t.Errorf("zone subnet %s, delegation %s: %+v, want a failure saying %q", tc.zone, tc.delegated, c, tc.want)
		}
	}
}

func TestPrefixDelegationNotAsked(t *testing.T) {
	plain := pdConfig(t, "machine \"c\" {\n  root { directory = \"/srv/c\" }\n}\n")
	if cs := checkPrefixDelegation(pdHost{fakeHost: healthyHost(t)}, plain); len(cs) != 0 {
		t.Errorf("checks without a prefix_delegation block in the configuration: %+v", cs)
	}
}
