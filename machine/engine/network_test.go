package engine

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/internal/golden"
	"github.com/nspawnctl/nspawnctl/machine/config"
	"github.com/nspawnctl/nspawnctl/machine/render"
	"github.com/nspawnctl/nspawnctl/machine/resolve"
	"github.com/nspawnctl/nspawnctl/machine/state"
)

var _ = golden.Update

// resolveSource validates one HCL source with the test facts.
func resolveSource(t *testing.T, src string) *resolve.Resolved {
	t.Helper()
	p := config.NewParser()
	f, diags := p.ParseSource("test.hcl", []byte(src))
	cfg := &config.Config{Files: []string{"test.hcl"}}
	cfg.Merge(f, &diags)
	r, vd := resolve.Validate(cfg, testFacts)
	diags = append(diags, vd...)
	if diags.HasErrors() {
		t.Fatalf("does not validate: %v", diags)
	}
	return r
}

const proxyNDPSource = `machine "web" {
  network {
    host {
      proxy_ndp  = ["eth0"]
      masquerade = "ipv4"
    }
    container {
      address = ["2001:db8:5:6::100/128"]
    }
  }
}
`

// The proxy NDP drop-in is named after the .network file networkd applies
// to the uplink, which the lifecycle reads from networkd's link state.
func TestProxyNDPDropInFollowsUplinkFile(t *testing.T) {
	root := t.TempDir()
	for p, content := range map[string]string{
		"sys/class/net/eth0/ifindex":     "7\n",
		"run/systemd/netif/links/7":      "# This is private data. Do not parse.\nADMIN_STATE=configured\nNETWORK_FILE=/usr/lib/systemd/network/10-provider.network\n",
		"sys/class/net/eth1/ifindex":     "8\n",
		"run/systemd/netif/links/8":      "ADMIN_STATE=unmanaged\n",
		"sys/class/net/eth9/placeholder": "",
	} {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m := &Manager{FSRoot: root}
	files, err := m.uplinkNetworkFiles([]string{"eth0", "eth1"})
	if err != nil {
		t.Fatal(err)
	}
	if files["eth0"] != "/usr/lib/systemd/network/10-provider.network" || files["eth1"] != "" {
		t.Errorf("uplink files = %v", files)
	}
	if _, err := m.uplinkNetworkFiles([]string{"nosuch0"}); err == nil || !strings.Contains(err.Error(), "not an interface on this host") {
		t.Errorf("missing uplink: err = %v", err)
	}

	r := resolveSource(t, proxyNDPSource)
	arts, err := render.RenderMachine(r, r.Machines[0], render.RenderOptions{UplinkNetworkFiles: files})
	if err != nil {
		t.Fatal(err)
	}
	var drop, host string
	for _, a := range arts {
		switch a.Path {
		case "/etc/systemd/network/10-provider.network.d/nspawnctl-web.conf":
			drop = string(a.Content)
		case render.HostNetworkPath(r.Machines[0]):
			host = string(a.Content)
		}
	}
	if !strings.Contains(drop, "IPv6ProxyNDP=yes\nIPv6ProxyNDPAddress=2001:db8:5:6::100\n") {
		t.Errorf("drop-in for 10-provider.network:\n%s", drop)
	}
	if !strings.Contains(host, "[Route]\nDestination=2001:db8:5:6::100/128\n") || !strings.Contains(host, "IPForward=yes\n") {
		t.Errorf("host side lacks the route to the proxied address or IPForward=yes:\n%s", host)
	}

	// An uplink networkd does not configure: nothing to add a drop-in to.
	_, err = render.RenderMachine(r, r.Machines[0], render.RenderOptions{UplinkNetworkFiles: map[string]string{}})
	if err == nil || !strings.Contains(err.Error(), "applies no .network file") {
		t.Errorf("unmanaged uplink: err = %v", err)
	}
}

// A zone's subnets are pinned for whichever member recorded them, so that
// the second member's create does not move the zone (whose address is then
// on the host, among the taken prefixes).
func TestZoneAllocationsStayPinned(t *testing.T) {
	src := `zone "z" {}
machine "a" {
  network {
    zone = "z"
  }
}
machine "b" {
  network {
    zone = "z"
  }
}
`
	r := resolveSource(t, src)
	za := zoneAllocations(r, r.Machine("a"))
	v4 := za["zone/z/ipv4"]
	if !v4.IsValid() || !za["zone/z/ipv6"].IsValid() {
		t.Fatalf("zone allocations = %v", za)
	}
	// a exists with its record; only b is in the next configuration, and
	// the zone's address is on the host (vz-z is up).
	st := &state.Store{Dir: t.TempDir()}
	if err := st.Save(&state.Record{Name: "a", Allocations: za}); err != nil {
		t.Fatal(err)
	}
	m := &Manager{FSRoot: t.TempDir(), Store: st, MachineID: testFacts.MachineID,
		HostPrefixes: func() ([]netip.Prefix, error) { return []netip.Prefix{netip.PrefixFrom(v4.Addr().Next(), 24)}, nil }}
	p := config.NewParser()
	f, diags := p.ParseSource("test.hcl", []byte(strings.Replace(src, "machine \"a\" {\n  network {\n    zone = \"z\"\n  }\n}\n", "", 1)))
	cfg := &config.Config{Files: []string{"test.hcl"}}
	cfg.Merge(f, &diags)
	if len(cfg.Machines) != 1 {
		t.Fatalf("want only b in the second configuration, have %d machines", len(cfg.Machines))
	}
	r2, vd, err := m.Resolve(cfg)
	if err != nil || vd.HasErrors() {
		t.Fatal(err, vd)
	}
	if got := r2.Zones[0].Addrs[0].Masked(); got != v4 {
		t.Errorf("zone moved from %s to %s when its own address was on the host", v4, got)
	}
}
