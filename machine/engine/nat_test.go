package engine

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/machine/render"
	"github.com/nspawnctl/nspawnctl/machine/state"
	"github.com/nspawnctl/nspawnctl/nat"
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
		nm := render.NATMachine(r, rm)
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
		// Veth and zone machines also have exposure protections (exposure.go).
		if render.NeedsNAT(nm) != (want != "[]" || len(nm.Addrs) > 0) {
			t.Errorf("machine %s: render.NeedsNAT = %v", name, render.NeedsNAT(nm))
		}
	}
}

// TestMachineWithoutForwardsIsNATed: a machine without forward_port still
// gets what outbound NAT needs: a NAT record with its networks, the nat
// up/down hooks, the restore unit, and plan shows the outbound NAT.
func TestMachineWithoutForwardsIsNATed(t *testing.T) {
	m, _, natStore := testManager(t)
	r := resolveSource(t, `machine "quiet" {}`)
	plans, err := m.Plan(context.Background(), r, false, false)
	if err != nil {
		t.Fatal(err)
	}
	rm := r.Machine("quiet")
	want := []string{
		"+ outbound NAT of " + rm.HostAddrs[0].Masked().String() + " via ve-quiet",
		"+ outbound NAT of " + rm.HostAddrs[1].Masked().String() + " via ve-quiet",
		"+ only forwards reach " + rm.ContainerAddrs[0].Addr().String() + " from other hosts",
		"+ only forwards reach " + rm.ContainerAddrs[1].Addr().String() + " from other hosts",
	}
	if len(plans) != 1 || fmt.Sprint(plans[0].NAT) != fmt.Sprint(want) {
		t.Errorf("plan NAT lines = %q, want %q", plans[0].NAT, want)
	}
	if err := os.MkdirAll(m.host("/var/lib/machines/quiet"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.Create(context.Background(), r, "quiet", CreateOptions{Ownership: state.OwnerImperative}); err != nil {
		t.Fatal(err)
	}
	if nm, ok := natStore["quiet"]; !ok || len(nm.Masquerade) != 2 || len(nm.Forwards) != 0 {
		t.Errorf("NAT record = %+v (saved: %v), want the two networks and no forward", nm, ok)
	}
	dropin, err := os.ReadFile(m.host(render.DropInPath(render.SystemDir, "quiet")))
	if err != nil || !strings.Contains(string(dropin), "ExecStartPost=/usr/local/bin/nspawnctl nat up %i") {
		t.Errorf("drop-in without the nat up hook (%v):\n%s", err, dropin)
	}
	if _, err := os.Lstat(m.host("/etc/systemd/system/multi-user.target.wants/" + nat.RestoreUnitName)); err != nil {
		t.Errorf("restore unit not enabled: %v", err)
	}
	if err := m.Remove(context.Background(), "quiet", RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(m.host("/etc/systemd/system/" + nat.RestoreUnitName)); err == nil {
		t.Error("removing the last NATed machine left the restore unit")
	}
}
