package resolve_test

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/slackhq/nebula/cert"

	"github.com/nspawnctl/nspawnctl/machine/nebula"
)

// Validate leaves a machine's nebula block parsed, with the defaults filled
// in: what render, signing and the units read without parsing anything.
func TestNebulaSettings(t *testing.T) {
	for _, c := range []struct {
		name, body string
		want       nebula.Settings
	}{{
		name: "defaults",
		body: `defaults { nebula_pool = "10.42.0.0/24" }
machine "m" {
  network { mode = "veth" }
  nebula {
    network = "n"
    ca      = "/ca.crt"
    ca_key  = "/ca.key"
    inbound { host = "any" }
  }
}
`,
		want: nebula.Settings{
			Network: "n", CA: "/ca.crt", CAKey: "/ca.key", Pool: netip.MustParsePrefix("10.42.0.0/24"),
			CertVersion: cert.Version1, RenewBefore: nebula.RenewBefore, Punchy: true,
			Device: nebula.DefaultDevice, MTU: nebula.DefaultMTU,
			Inbound: []nebula.Rule{{Port: "any", Proto: "any", Host: "any"}},
		},
	}, {
		name: "everything",
		body: `machine "m" {
  network { mode = "veth" }
  nebula {
    network         = "n"
    ca              = "/ca.crt"
    ca_key          = "/ca.key"
    address         = "10.42.0.5/24"
    address6        = "fd42::5/64"
    cert_version    = 2
    duration        = "720h"
    pool            = "10.42.0.0/24"
    groups          = ["web"]
    lighthouses     = ["10.42.0.1"]
    static_host_map = { "10.42.0.1" = ["lh.example:4242"] }
    listen_port     = 4243
    advertise_addrs = ["203.0.113.7", "[2001:db8::7]:4300"]
    use_relays      = false
    relays          = ["10.42.0.1"]
    punchy          = false
    device          = "neb0"
    mtu             = 1400
    outbound {
      port       = "443"
      proto      = "tcp"
      cidr       = "10.42.0.0/24"
      local_cidr = "10.42.0.5/32"
    }
  }
}
`,
		want: nebula.Settings{
			Network: "n", CA: "/ca.crt", CAKey: "/ca.key",
			Address: netip.MustParsePrefix("10.42.0.5/24"), Address6: netip.MustParsePrefix("fd42::5/64"),
			Pool: netip.MustParsePrefix("10.42.0.0/24"), CertVersion: cert.Version2,
			Duration: 720 * time.Hour, RenewBefore: 240 * time.Hour, DurationText: "720h",
			Groups: []string{"web"}, Lighthouses: []netip.Addr{netip.MustParseAddr("10.42.0.1")},
			StaticHostMap:  map[netip.Addr][]string{netip.MustParseAddr("10.42.0.1"): {"lh.example:4242"}},
			ListenPort:     4243,
			AdvertiseAddrs: []netip.AddrPort{netip.MustParseAddrPort("203.0.113.7:4243"), netip.MustParseAddrPort("[2001:db8::7]:4300")},
			Relay:          &nebula.Relay{UseRelays: false, Relays: []netip.Addr{netip.MustParseAddr("10.42.0.1")}},
			Device:         "neb0", MTU: 1400,
			Outbound: []nebula.Rule{{Port: "443", Proto: "tcp", CIDR: netip.MustParsePrefix("10.42.0.0/24"), LocalCIDR: netip.MustParsePrefix("10.42.0.5/32")}},
		},
	}, {
		name: "lighthouse",
		body: `machine "m" {
  network { mode = "veth" }
  nebula {
    network       = "n"
    ca            = "/ca.crt"
    cert          = "/h.crt"
    key           = "/h.key"
    am_lighthouse = true
    am_relay      = true
    renew_before  = "48h"
  }
}
`,
		want: nebula.Settings{
			Network: "n", CA: "/ca.crt", Cert: "/h.crt", Key: "/h.key", AmLighthouse: true,
			CertVersion: cert.Version1, RenewBefore: 48 * time.Hour, RenewBeforeText: "48h",
			ListenPort: nebula.DefaultLighthousePort, Relay: &nebula.Relay{AmRelay: true, UseRelays: true},
			Punchy: true, Device: nebula.DefaultDevice, MTU: nebula.DefaultMTU,
		},
	}} {
		t.Run(c.name, func(t *testing.T) {
			r, diags := loadAndValidate([]string{writeConfig(t, c.body)})
			if diags.HasErrors() {
				t.Fatalf("%v\n%s", diags, c.body)
			}
			if got := r.Machine("m").Nebula; got == nil || !reflect.DeepEqual(*got, c.want) {
				t.Errorf("Nebula = %+v\nwant      %+v", got, c.want)
			}
		})
	}
}
