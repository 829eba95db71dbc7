package machine

import (
	"fmt"
	"testing"
)

// TestMasqueradePrefixes: the networks nspawnctl masquerades are the ones
// networkd's IPMasquerade= masquerades for each kind of machine, and only
// for the families the masquerade setting names.
func TestMasqueradePrefixes(t *testing.T) {
	r := resolveSource(t, `
zone "lan" {}
zone "v4only" {
  masquerade = "ipv4"
}
bridge "br0" {
  address = ["10.77.0.1/24"]
}
machine "web" {}
machine "noipv6" {
  network {
    host {
      masquerade = "ipv4"
    }
  }
}
machine "none" {
  network {
    host {
      masquerade = "no"
    }
  }
}
machine "member" {
  network {
    zone = "lan"
  }
}
machine "member4" {
  network {
    zone = "v4only"
  }
}
machine "bridged" {
  network {
    bridge = "br0"
  }
}
`)
	for _, name := range []string{"web", "noipv6", "none", "member", "member4", "bridged"} {
		rm := r.Machine(name)
		nm := natMachine(r, rm)
		want := "[]" // "none"; and declared bridges default to masquerade = "no", as networkd's file says
		switch name {
		case "web": // the host side's /28 and ULA /64, as in networkd's masq_saddr
			want = fmt.Sprintf("[%v %v]", rm.HostAddrs[0].Masked(), rm.HostAddrs[1].Masked())
		case "noipv6":
			want = fmt.Sprintf("[%v]", rm.HostAddrs[0].Masked())
		case "member": // a zone member's own addresses, one element per member
			want = fmt.Sprintf("[%v/32 %v/128]", rm.ContainerAddrs[0].Addr(), rm.ContainerAddrs[1].Addr())
		case "member4":
			want = fmt.Sprintf("[%v/32]", rm.ContainerAddrs[0].Addr())
		}
		if got := fmt.Sprint(nm.Masquerade); got != want {
			t.Errorf("machine %s: masquerade %s, want %s", name, got, want)
		}
		if needsNAT(nm) != (want != "[]") {
			t.Errorf("machine %s: needsNAT = %v", name, needsNAT(nm))
		}
	}
}
