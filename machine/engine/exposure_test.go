package engine

import (
	"fmt"
	"testing"

	"github.com/nspawnctl/nspawnctl/machine/render"
)

// TestExposureSettings: what each machine hands to package nat: its
// addresses on veth and zone links, the zone's defaults, the machine's
// overrides, and nothing for bridges.
func TestExposureSettings(t *testing.T) {
	r := resolveSource(t, `
zone "back" {
  isolated = true
}
bridge "br0" {}
machine "web" {}
machine "db" {
  network { zone = "back" }
}
machine "cache" {
  network {
    direct_routing = true
    isolated       = true
  }
}
machine "lan" {
  network { bridge = "br0" }
}
`)
	want := map[string]string{
		"web":   "link ve-web, 2 addrs, direct false, isolated false",
		"db":    "link vz-back, 2 addrs, direct false, isolated true",
		"cache": "link ve-cache, 2 addrs, direct true, isolated true",
		"lan":   "link br0, 0 addrs, direct false, isolated false",
	}
	for _, rm := range r.Machines {
		nm := render.NATMachine(r, rm)
		got := fmt.Sprintf("link %s, %d addrs, direct %v, isolated %v", nm.Link, len(nm.Addrs), nm.Direct, nm.Isolated)
		if got != want[rm.Name] {
			t.Errorf("%s: %s, want %s", rm.Name, got, want[rm.Name])
		}
		if render.NeedsNAT(nm) != (rm.Name != "lan") {
			t.Errorf("%s: render.NeedsNAT = %v", rm.Name, render.NeedsNAT(nm))
		}
	}
}
